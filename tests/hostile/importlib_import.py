# attempts: importlib.import_module to load os dynamically
# must hold: import of importlib refused
# expect: forbidden
import importlib

from recipe_api import uniform

importlib.import_module("os").system("touch @SENTINEL_DIR@/importlib.txt")


def build():
    return uniform("ties")
