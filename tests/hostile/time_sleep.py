# attempts: hold the sandbox slot forever without using CPU (sleep), dodging the CPU limit
# must hold: import of time refused (and the wall-clock timeout would kill it anyway)
# expect: forbidden
import time

from recipe_api import uniform

time.sleep(3600)


def build():
    return uniform("ties")
