# attempts: walk from a recipe_api function to its module globals, then to the real builtins
# (which the recipe's restricted builtins hide) to open a file outside the temp dir
# must hold: refused (dunder attribute); without the AST check the audit hook refuses open
# expect: forbidden
from recipe_api import group, uniform

real_builtins = group.__globals__["__builtins__"]
real_builtins["open"]("@SENTINEL_DIR@/api_globals.txt", "w").write("pwned")


def build():
    return uniform("ties")
