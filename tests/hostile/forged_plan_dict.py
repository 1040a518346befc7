# attempts: return hand-written plan data (valid JSON) naming absent models and layers
# must hold: an invalid_plan error: build() must return a plan made by the API
# expect: invalid_plan
def build():
    src = {"model": "ghost", "layer": 77, "params": {}}
    g = {"method": "passthrough", "sources": [src], "params": {}}
    return {"models": ["ghost"], "embed": g, "layers": [g], "norm": g}
