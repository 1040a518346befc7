# attempts: eval of a string that imports os
# must hold: refused (eval is not available)
# expect: forbidden
from recipe_api import uniform

eval("__imp" + "ort__('os').system('touch @SENTINEL_DIR@/eval.txt')")


def build():
    return uniform("ties")
