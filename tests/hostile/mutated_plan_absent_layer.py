# attempts: build a valid plan, then edit its data to read layer 999 (bypassing the API's checks)
# must hold: the parent's validation against the facts rejects it (invalid_plan, names the range)
# expect: invalid_plan
from recipe_api import uniform


def build():
    p = uniform("ties")
    p.data["layers"][1]["sources"][0]["layer"] = 999
    return p
