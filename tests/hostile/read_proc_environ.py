# attempts: read the parent's environment (API keys) from /proc/<ppid>/environ via pathlib
# must hold: import of pathlib refused; the canary secret appears nowhere
# expect: forbidden
import pathlib

from recipe_api import uniform


def build():
    import os

    raise ValueError(pathlib.Path(f"/proc/{os.getppid()}/environ").read_bytes())
    return uniform("ties")
