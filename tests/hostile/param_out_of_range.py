# attempts: a method parameter outside its registry range (density 5)
# must hold: an invalid_plan error naming the parameter and its range
# expect: invalid_plan
from recipe_api import uniform


def build():
    return uniform("ties", density=5.0)
