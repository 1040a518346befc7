# attempts: unbounded recursion to crash the interpreter
# must hold: a resources error (RecursionError), no crash of the parent
# expect: resources
from recipe_api import uniform


def dive(n):
    return dive(n + 1) + 1


def build():
    dive(0)
    return uniform("ties")
