# attempts: read environment secrets and echo them in an exception message
# must hold: refused; the canary secret from the parent's environment appears in no output
# expect: forbidden
import os

from recipe_api import uniform


def build():
    raise ValueError(dict(os.environ))
    return uniform("ties")
