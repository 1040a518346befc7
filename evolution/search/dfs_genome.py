"""The data-flow-space genome (Akiba et al., "Evolutionary Optimization of Model Merging
Recipes", DFS): numbers → a layer path through several models → a MergePlan.

Why: DFS keeps every weight as it is and evolves the path a token takes. The layers of the
path's models are laid end to end (model 0's layers 0..L-1, then model 1's, ...) and that
sequence is repeated `repeats` times, T slots in all; an indicator gene per slot says whether
the slot's layer runs (it does when the gene is > 0), in slot order, so the output depth varies
with the genome. Where the path passes from a layer of model i to one of model j ≠ i, the hidden
state is multiplied by W[i, j], one gene per ordered pair of path models (the paper's scaling
matrix, here per model). Embeddings, final norm and head come from the `io` model.

PS+DFS: with `ps` (a parameter-space genome) and its frozen point `ps_values`, the merged model
that point decodes to joins the path as the pseudo-model `PS`; its layers are the PS plan's
layer groups, so the path can run merged layers and original ones. `decode(x)` is pure and
`recipe(x)` is a recipe whose plan is exactly `decode(x)`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evolution.merge.plan import Group, MergePlan, Source
from evolution.search.ps_genome import Genome

PS = "PS"  # the path's name for the parameter-space merge (PS+DFS)


@dataclass(frozen=True)
class DFSGenome:
    """Indicators over `repeats` copies of the path models' layers, and W between models."""

    models: tuple[str, ...]  # the path's models, in slot order (PS for the PS merge)
    depths: tuple[int, ...]  # each one's layer count
    io: str  # embeddings, final norm and head (a path model or PS)
    aliases: tuple[str, ...]  # every alias of the run, in its order (a plan lists models so)
    base: str | None = None
    repeats: int = 2
    scale_bounds: tuple[float, float] = (0.5, 2.0)
    max_layers: int | None = None  # a path keeps at most this many slots (the strongest indicators)
    tied: bool = False
    ps: Genome | None = None
    ps_values: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        if (
            len(self.models) != len(self.depths)
            or not self.models
            or len(set(self.models)) != len(self.models)
        ):
            raise ValueError(f"DFSGenome: need distinct path models with a depth each, got {self.models}")
        if PS in self.aliases:
            raise ValueError(f"DFSGenome: a model alias may not be {PS!r} (the PS merge's name)")
        if (PS in self.models or self.io == PS) and (self.ps is None or not self.ps_values):
            raise ValueError("DFSGenome: the path names PS but no PS genome and point are given")
        if self.io not in self.models and self.io not in self.aliases:
            raise ValueError(f"DFSGenome: io {self.io!r} is neither a path model nor a run model")
        if self.repeats < 1 or min(self.depths) < 1:
            raise ValueError("DFSGenome: repeats and depths must be at least 1")

    # ----- genes -----
    @property
    def slots(self) -> list[tuple[int, str, int]]:
        """(repeat, model, layer) per slot: the T = repeats x sum(depths) sequence."""
        one = [(m, i) for m, d in zip(self.models, self.depths, strict=True) for i in range(d)]
        return [(r, m, i) for r in range(self.repeats) for m, i in one]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(a, b) for a in self.models for b in self.models if a != b]

    @property
    def names(self) -> list[str]:
        """'I.<repeat>.<model>.<layer>' per slot, then 'W.<from>.<to>' per model pair."""
        return [f"I.{r}.{m}.{i}" for r, m, i in self.slots] + [f"W.{a}.{b}" for a, b in self.pairs]

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def lows(self) -> np.ndarray:
        n = len(self.slots)
        return np.array([-1.0] * n + [self.scale_bounds[0]] * (self.dim - n))

    @property
    def highs(self) -> np.ndarray:
        n = len(self.slots)
        return np.array([1.0] * n + [self.scale_bounds[1]] * (self.dim - n))

    def path_vector(self, model: str) -> np.ndarray:
        """The genome whose path is `model`'s own layers once (indicators ±0.5, every W 1)."""
        if model not in self.models:
            raise ValueError(f"DFSGenome: {model!r} is not a path model ({', '.join(self.models)})")
        ind = [0.5 if (r == 0 and m == model) else -0.5 for r, m, _ in self.slots]
        return np.clip(np.array(ind + [1.0] * len(self.pairs)), self.lows, self.highs)

    def as_vector(self, x: Sequence[float] | np.ndarray | Mapping[str, float]) -> np.ndarray:
        if isinstance(x, Mapping):
            missing = [n for n in self.names if n not in x]
            if missing:
                raise ValueError(f"DFSGenome: missing genes {missing[:3]}")
            x = [float(x[n]) for n in self.names]
        v = np.asarray(x, dtype=float)
        if v.shape != (self.dim,):
            raise ValueError(f"DFSGenome: expected {self.dim} values, got shape {v.shape}")
        return np.clip(v, self.lows, self.highs)

    def values(self, x: Sequence[float] | np.ndarray | Mapping[str, float]) -> dict[str, float]:
        return dict(zip(self.names, self.as_vector(x).tolist(), strict=True))

    # ----- decoding -----
    def path(self, x: Sequence[float] | np.ndarray | Mapping[str, float]) -> list[tuple[str, int, float]]:
        """(model, layer, input scale) per output layer: the slots whose indicator is > 0 (at
        least the strongest one, at most `max_layers` of the strongest), in slot order."""
        v = self.as_vector(x)
        n = len(self.slots)
        ind = v[:n]
        chosen = [t for t in range(n) if ind[t] > 0] or [int(np.argmax(ind))]
        if self.max_layers is not None and len(chosen) > self.max_layers:
            strongest = sorted(chosen, key=lambda t: (-ind[t], t))[: self.max_layers]
            chosen = sorted(strongest)
        w = dict(zip(self.pairs, v[n:].tolist(), strict=True))
        out: list[tuple[str, int, float]] = []
        prev: str | None = None
        for t in chosen:
            _, m, i = self.slots[t]
            scale = 1.0 if prev is None or prev == m else round(w[(prev, m)], 6)
            out.append((m, i, scale))
            prev = m
        return out

    def _ps_values(self) -> dict[str, float]:
        assert self.ps is not None
        return {k: round(v, 6) for k, v in self.ps.values(self.ps_values).items()}

    def _layer(self, model: str, layer: int, scale: float) -> Group:
        if model == PS:
            assert self.ps is not None
            g = self.ps._group(f"b{self.ps.block_of_layer(layer)}", self._ps_values(), layer)
            return g.model_copy(update={"input_scale": scale})
        return Group(method="passthrough", sources=[Source(model=model, layer=layer)], input_scale=scale)

    def _io(self) -> Group:
        if self.io == PS:
            assert self.ps is not None
            return self.ps._group("io", self._ps_values(), None)
        return Group(method="passthrough", sources=[Source(model=self.io)])

    def decode(self, x: Sequence[float] | np.ndarray | Mapping[str, float]) -> MergePlan:
        """The plan of genome `x`: its path's layers, `io`'s embeddings, norm and head."""
        layers = [self._layer(m, i, s) for m, i, s in self.path(x)]
        io = self._io()
        head = None if self.tied else io
        used = {self.base} if self.base else set()
        for g in [io, *layers]:
            used.update(s.model for s in g.sources)
            if g.base is not None:
                used.add(g.base.model)
        return MergePlan(
            models=[a for a in self.aliases if a in used],
            base_model=self.base,
            embed=io,
            layers=layers,
            norm=io,
            head=head,
            seed=self.seed,
        )

    def recipe(self, x: Sequence[float] | np.ndarray | Mapping[str, float], title: str = "dfs point") -> str:
        """A recipe whose plan is exactly `decode(x)` (the path and scales as constants)."""
        path = "".join(f"    ({json.dumps(m)}, {i}, {s!r}),\n" for m, i, s in self.path(x))
        uses_ps = self.ps is not None and (PS in self.models or self.io == PS)
        kind = "PS+DFS" if uses_ps else "DFS"
        head = f'''"""{title}: a {kind} layer path (Akiba et al.): which layers of which models run, in
order, and the scale of the hidden state where the path changes model (no proposer wrote it)."""

from recipe_api import group, plan, src

BASE = {json.dumps(self.base)}
IO = {json.dumps(self.io)}  # embeddings, final norm and head
TIED = {self.tied!r}
SEED = {self.seed}
# (model, layer, scale of the hidden state entering the layer)
PATH = [
{path}]
'''
        build = """

def build():
    io = layer(IO, None, 1.0)
    layers = [layer(m, i, s) for m, i, s in PATH]
    return plan(layers, embed=io, norm=io, head=None if TIED else io, base=BASE, seed=SEED)
"""
        if not uses_ps:
            return head + _PLAIN_LAYER + build
        assert self.ps is not None
        genes = "".join(f"    {json.dumps(k)}: {v!r},\n" for k, v in self._ps_values().items())
        ps = (
            f"PS_METHOD = {json.dumps(self.ps.method)}\n"
            f"PS_EXPERTS = {json.dumps(list(self.ps.experts))}\n"
            f"PS_BLOCKS = {self.ps.blocks}\n"
            f"PS_LAYERS = {self.ps.num_layers}\n"
            f"PS_PARAMS = {json.dumps(dict(self.ps.group_params))}\n"
            f"PS_GENES = {{\n{genes}}}\n"
        )
        return head + ps + _PS_LAYER + build


_PLAIN_LAYER = """

def layer(model, i, scale):
    return group("passthrough", [src(model, i)], base=None, input_scale=scale)
"""

_PS_LAYER = f'''

def layer(model, i, scale):
    """A path layer: a model's own layer, or the parameter-space merge's ("{PS}")."""
    if model != "{PS}":
        return group("passthrough", [src(model, i)], base=None, input_scale=scale)
    block = "io" if i is None else f"b{{i * PS_BLOCKS // PS_LAYERS}}"
    sources = [
        src(e, i, weight=PS_GENES[f"{{block}}.{{e}}.weight"], density=PS_GENES[f"{{block}}.{{e}}.density"])
        for e in PS_EXPERTS
    ]
    return group(PS_METHOD, sources, layer=i, base=src(BASE, i), input_scale=scale, **PS_PARAMS)
'''
