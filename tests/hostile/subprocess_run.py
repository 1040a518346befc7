# attempts: run a shell command that writes a file, with subprocess
# must hold: import of subprocess refused; no file appears, no process is left behind
# expect: forbidden
import subprocess

from recipe_api import uniform

subprocess.run(["sh", "-c", "echo pwned > @SENTINEL_DIR@/shell.txt"])


def build():
    return uniform("ties")
