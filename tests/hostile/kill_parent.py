# attempts: kill the parent (the session) with SIGKILL
# must hold: refused; the test process is alive afterwards
# expect: forbidden
import os

from recipe_api import uniform

os.kill(os.getppid(), 9)


def build():
    return uniform("ties")
