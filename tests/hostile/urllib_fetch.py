# attempts: an HTTP request with urllib to a local listener
# must hold: import of urllib refused; no connection is made
# expect: forbidden
from urllib.request import urlopen

from recipe_api import uniform

urlopen("http://127.0.0.1:@PORT@/steal", timeout=1)


def build():
    return uniform("ties")
