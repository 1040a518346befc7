# attempts: reach the recipe API's private modules (and their imports) by plain attribute names
# must hold: refused (private attributes); at run time the recipe_api module is a public-only proxy
# expect: forbidden
import recipe_api

state = recipe_api._state._STATE
state["tunable_values"]["x"] = 1


def build():
    return recipe_api.uniform("ties")
