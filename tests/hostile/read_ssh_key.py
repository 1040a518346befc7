# attempts: read the user's SSH private key through os.path.expanduser
# must hold: import of os refused; no file is opened
# expect: forbidden
import os

from recipe_api import uniform


def build():
    key = open(os.path.expanduser("~/.ssh/id_rsa")).read()
    raise ValueError(key)
    return uniform("ties")
