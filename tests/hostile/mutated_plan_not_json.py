# attempts: smuggle a non-JSON value (infinity, a cycle) into the plan data
# must hold: serialization in the child fails cleanly (runtime error), nothing reaches the parent
# expect: runtime
from recipe_api import uniform


def build():
    p = uniform("ties")
    p.data["layers"][0]["residual_scale"] = float("inf")
    p.data["cycle"] = p.data
    return p
