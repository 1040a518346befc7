# attempts: compile() a string to a code object to run later
# must hold: refused (compile is not available)
# expect: forbidden
from recipe_api import uniform

c = compile("1 + 1", "x", "eval")


def build():
    return uniform("ties")
