# attempts: a detached daemon (double fork + setsid) that outlives the sandbox's process group
# must hold: refused; no process is left behind after the run
# expect: forbidden
import os

from recipe_api import uniform

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            pass


def build():
    return uniform("ties")
