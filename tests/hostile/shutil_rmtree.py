# attempts: delete a whole directory tree with shutil.rmtree
# must hold: import of shutil refused; the sentinel directory is untouched
# expect: forbidden
from shutil import rmtree

from recipe_api import uniform

rmtree("@SENTINEL_DIR@")


def build():
    return uniform("ties")
