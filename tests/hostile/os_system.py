# attempts: os.system with a command that writes outside the temp dir
# must hold: refused; no file appears
# expect: forbidden
from os import system

from recipe_api import uniform

system("touch @SENTINEL_DIR@/system.txt")


def build():
    return uniform("ties")
