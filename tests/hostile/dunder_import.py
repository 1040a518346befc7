# attempts: __import__("os") to reach os.system without an import statement
# must hold: refused (dunder names are not allowed; __import__ is guarded at run time too)
# expect: forbidden
from recipe_api import uniform

__import__("os").system("touch @SENTINEL_DIR@/dunder.txt")


def build():
    return uniform("ties")
