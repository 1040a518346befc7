# attempts: edit the plan data to a parameter value outside the registry's range (weight 1e9)
# must hold: the parent's registry validation rejects it (invalid_plan)
# expect: invalid_plan
from recipe_api import uniform


def build():
    p = uniform("ties")
    p.data["layers"][2]["sources"][0]["params"]["weight"] = 1e9
    return p
