# attempts: grow memory step by step until the machine swaps
# must hold: stopped by RLIMIT_AS (resources) or the time limit
# expect: resources|timeout
from recipe_api import uniform

hog = []
while True:
    hog.append("x" * (1 << 24))


def build():
    return uniform("ties")
