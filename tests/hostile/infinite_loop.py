# attempts: never finish (an infinite loop at import time)
# must hold: killed at the wall-clock/CPU limit; a timeout error; no process left behind
# expect: timeout
from recipe_api import uniform

while True:
    pass


def build():
    return uniform("ties")
