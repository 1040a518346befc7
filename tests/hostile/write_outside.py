# attempts: create a file in a directory outside the sandbox's temp dir
# must hold: refused; the sentinel directory gains no file
# expect: forbidden
from recipe_api import uniform

with open("@SENTINEL_DIR@/pwned.txt", "w") as f:
    f.write("pwned")


def build():
    return uniform("ties")
