# attempts: exec of a string assembled at run time
# must hold: refused (exec is not available)
# expect: forbidden
from recipe_api import uniform

code = "import o" + "s\nos.system('touch @SENTINEL_DIR@/exec.txt')"
exec(code)


def build():
    return uniform("ties")
