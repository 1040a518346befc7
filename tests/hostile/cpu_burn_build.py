# attempts: burn CPU inside build() with a huge computation (threads cannot be imported)
# must hold: a timeout error within the limit; no process left behind
# expect: timeout
from recipe_api import uniform


def build():
    total = sum(i * i for i in range(10**13))
    return uniform("ties", density=min(1.0, total))
