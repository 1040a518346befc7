# attempts: a plan naming a model that is not in the run
# must hold: an invalid_plan error naming the alias and the known ones
# expect: invalid_plan
from recipe_api import models, uniform


def build():
    return uniform("ties", [*models.experts, "ghost_model"])
