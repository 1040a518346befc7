# attempts: edit the plan data so a layer reads a model that is not in the run
# must hold: the parent's plan validation rejects it (invalid_plan)
# expect: invalid_plan
from recipe_api import uniform


def build():
    p = uniform("ties")
    p.data["models"].append("ghost")
    p.data["layers"][0]["sources"][0]["model"] = "ghost"
    return p
