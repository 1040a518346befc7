# attempts: code execution through pickle.loads of a crafted payload (os.system reduce)
# must hold: import of pickle refused
# expect: forbidden
import pickle

from recipe_api import uniform

pickle.loads(b"cos\nsystem\n(S'touch @SENTINEL_DIR@/pickle.txt'\ntR.")


def build():
    return uniform("ties")
