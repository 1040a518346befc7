# attempts: flood the parent with printed output
# must hold: output is capped; an output error
# expect: output
from recipe_api import uniform

while True:
    print("spam " * 1000)


def build():
    return uniform("ties")
