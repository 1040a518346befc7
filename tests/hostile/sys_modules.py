# attempts: reach os through sys.modules
# must hold: import of sys refused
# expect: forbidden
import sys

from recipe_api import uniform

sys.modules["os"].system("touch @SENTINEL_DIR@/sysmodules.txt")


def build():
    return uniform("ties")
