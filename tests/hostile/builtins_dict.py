# attempts: fetch open() from __builtins__ even though the name is hidden
# must hold: refused (dunder name)
# expect: forbidden
from recipe_api import uniform

opener = __builtins__["open"]
opener("@SENTINEL_DIR@/builtins.txt", "w").write("x")


def build():
    return uniform("ties")
