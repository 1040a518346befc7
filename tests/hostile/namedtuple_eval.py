# attempts: dynamic code through an allowed module: functools reaches collections.namedtuple,
# which compiles code at run time; passes the AST check, and hides the refusal in try/except
# must hold: the audit hook refuses exec/compile, and the violation is reported even though caught
# expect: forbidden
import functools

from recipe_api import uniform

try:
    functools.namedtuple("Point", "x y")
except Exception:
    pass


def build():
    return uniform("ties")
