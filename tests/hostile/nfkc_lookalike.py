# attempts: unicode look-alike identifiers (fullwidth letters) that Python normalizes (NFKC) to eval
# must hold: refused (non-ASCII identifiers; the normalized name eval is also forbidden)
# expect: forbidden
from recipe_api import uniform

ｅｖａｌ("1 + 1")


def build():
    return uniform("ties")
