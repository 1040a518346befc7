# attempts: attribute access inside a str.format template ("{0.__class__}") that the AST cannot see
# must hold: refused (format attribute and dunder text)
# expect: forbidden
from recipe_api import uniform

leak = "{0.gi_frame.f_back}".format((x for x in [1]))


def build():
    return uniform("ties")
