# -*- coding: unicode_escape -*-
# attempts: a codec cookie so the bytes mean other code than the text a reviewer reads
# must hold: refused (recipes are UTF-8; other coding declarations are errors)
# expect: forbidden
from recipe_api import uniform

x = "\u0022 + __import__('os').system('touch @SENTINEL_DIR@/codec.txt') + \u0022"


def build():
    return uniform("ties")
