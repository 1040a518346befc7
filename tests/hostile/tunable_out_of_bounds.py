# attempts: a tunable whose default lies outside its own bounds
# must hold: an invalid_plan error naming the tunable
# expect: invalid_plan
from recipe_api import tunable, uniform

DENSITY = tunable("density", 5.0, 0.0, 1.0)


def build():
    return uniform("ties", density=DENSITY)
