# attempts: call libc's system() through ctypes
# must hold: import of ctypes refused
# expect: forbidden
import ctypes

from recipe_api import uniform

ctypes.CDLL(None).system(b"touch @SENTINEL_DIR@/ctypes.txt")


def build():
    return uniform("ties")
