# attempts: a method the registry does not know
# must hold: an invalid_plan error listing the known methods
# expect: invalid_plan
from recipe_api import uniform


def build():
    return uniform("rm_rf_merge")
