"""SLERP between the base and one expert, with a t that changes over depth and per module.

Rationale: the classic mergekit recipe. Attention and MLP weights get opposite gradients, so
early layers keep more of one model's attention and later layers more of the other's MLP;
interpolating on the sphere keeps weight norms, unlike a linear average.
"""

from recipe_api import gradient, models, rules, uniform

METHOD = "slerp"
EXPERT = 0  # which expert to interpolate towards (index into models.experts)
T_ATTN = [0.0, 0.5, 0.3, 0.7, 1.0]  # t over depth for self_attn tensors (0: base, 1: expert)
T_MLP = [1.0, 0.5, 0.7, 0.3, 0.0]  # t over depth for mlp tensors
T_DEFAULT = 0.5  # every other tensor (norms, embeddings)


def build():
    expert = models.experts[EXPERT % len(models.experts)]
    t = rules(self_attn=gradient(*T_ATTN), mlp=gradient(*T_MLP), default=T_DEFAULT)
    return uniform(METHOD, [models.base, expert], t=t)
