# attempts: a traceback-frame walk (tb_frame.f_back.f_globals) to reach the sandbox's globals
# must hold: refused (dunder and frame attributes)
# expect: forbidden
from recipe_api import uniform

try:
    1 / 0
except ZeroDivisionError as e:
    g = e.__traceback__.tb_frame.f_back.f_globals


def build():
    return uniform("ties")
