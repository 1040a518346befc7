# attempts: read /etc/passwd with open() and smuggle it out in the plan's error message
# must hold: refused before running (open is not available); nothing read, nothing echoed
# expect: forbidden
from recipe_api import uniform


def build():
    raise ValueError(open("/etc/passwd").read())
    return uniform("ties")
