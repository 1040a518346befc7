# attempts: delete a file outside the temp dir with os.remove
# must hold: import of os refused; the sentinel file still exists with its content
# expect: forbidden
import os

from recipe_api import uniform

os.remove("@SENTINEL_DIR@/sentinel.txt")


def build():
    return uniform("ties")
