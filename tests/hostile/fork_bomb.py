# attempts: a fork bomb
# must hold: refused (no os, and RLIMIT_NPROC=0 in the child); no process is left behind
# expect: forbidden
import os

from recipe_api import uniform

while True:
    os.fork()


def build():
    return uniform("ties")
