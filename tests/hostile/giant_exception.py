# attempts: a 50 MB exception message to flood the parent's memory and the repair prompt
# must hold: messages are clipped in the child and the parent; a short error comes back
# expect: runtime|output|resources
from recipe_api import uniform


def build():
    raise ValueError("A" * (50 * 1024 * 1024))
    return uniform("ties")
