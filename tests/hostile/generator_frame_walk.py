# attempts: a generator-frame walk (gi_frame.f_back.f_globals) into the sandbox's own code
# must hold: refused (frame attributes); at run time the audit hook refuses gi_frame
# expect: forbidden
from recipe_api import uniform


def gen():
    yield 1


g = gen()
outer = g.gi_frame.f_back.f_globals


def build():
    return uniform("ties")
