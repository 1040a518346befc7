# attempts: CPU-burning background threads that keep running after the plan is returned
# must hold: import of threading refused (and RLIMIT_NPROC=0 forbids new threads at run time)
# expect: forbidden
import threading

from recipe_api import uniform


def burn():
    while True:
        pass


for _ in range(8):
    threading.Thread(target=burn, daemon=True).start()


def build():
    return uniform("ties")
