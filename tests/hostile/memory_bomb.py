# attempts: allocate ~80 GB at once
# must hold: refused by RLIMIT_AS: a resources error, the machine unharmed
# expect: resources
from recipe_api import uniform

hog = [0] * (10**10)


def build():
    return uniform("ties")
