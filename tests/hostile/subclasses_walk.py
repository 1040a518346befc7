# attempts: the classic object.__subclasses__() walk to find a class whose globals hold os
# must hold: refused (dunder attributes); even without the AST check the audit hook refuses os.system
# expect: forbidden
from recipe_api import uniform

for cls in ().__class__.__base__.__subclasses__():
    if cls.__name__ == "_wrap_close":
        cls.__init__.__globals__["system"]("touch @SENTINEL_DIR@/subclasses.txt")


def build():
    return uniform("ties")
