# attempts: a layer stack reading a layer the source model does not have
# must hold: an invalid_plan error naming the model's layer range
# expect: invalid_plan
from recipe_api import models, stack


def build():
    return stack([(models.base, 0), (models.experts[0], 999)])
