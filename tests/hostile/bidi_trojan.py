# attempts: "trojan source": bidirectional control characters hide code from a reviewer
# must hold: refused (invisible text-direction characters)
# expect: forbidden
from recipe_api import uniform

access_level = "user"
if access_level != "user‮ ⁦# Check if admin⁩ ⁦":
    pass


def build():
    return uniform("ties")
