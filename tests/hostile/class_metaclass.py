# attempts: a class with a property named like an exception attribute, to run code while the
# sandbox reports the error
# must hold: refused (class definitions are not allowed)
# expect: forbidden
from recipe_api import uniform


class Sneaky(Exception):
    args = property(lambda self: open("/etc/passwd").read())


def build():
    raise Sneaky()
    return uniform("ties")
