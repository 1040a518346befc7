"""A fixed parameter-space genome (Sakana PS, mergekit-evolve): numbers → a MergePlan.

Why: the classic evolutionary-merge baseline searches a fixed vector of per-layer DARE-TIES
densities and weights with CMA-ES. Here the vector is split into depth blocks (one per layer
by default, fewer with `layer_blocks`) plus one "io" block for embeddings, final norm and head;
each block holds a weight and a density per expert. `decode(x)` is pure and clips to bounds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evolution.merge.plan import Group, MergePlan, Source

GENES = ("weight", "density")


@dataclass(frozen=True)
class Genome:
    """Per-block, per-expert (weight, density) of a task-vector method over `base`."""

    experts: tuple[str, ...]
    base: str
    num_layers: int
    method: str = "dare_ties"
    layer_blocks: int | None = None  # depth blocks; None: one per layer
    tied: bool = False  # True: the output head ties the embeddings (plan.head is None)
    weight_bounds: tuple[float, float] = (0.0, 1.0)
    density_bounds: tuple[float, float] = (0.1, 1.0)
    group_params: Mapping[str, float | bool] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.experts or self.base in self.experts:
            raise ValueError(
                f"Genome: need experts other than the base (experts={self.experts}, base={self.base})"
            )
        if self.num_layers < 1 or not 1 <= self.blocks <= self.num_layers:
            raise ValueError(f"Genome: layer_blocks must be in 1..{self.num_layers}")

    @property
    def blocks(self) -> int:
        return self.layer_blocks or self.num_layers

    @property
    def block_names(self) -> list[str]:
        return [f"b{b}" for b in range(self.blocks)] + ["io"]

    @property
    def names(self) -> list[str]:
        """Gene names, e.g. 'b3.math.weight', 'io.code.density'; the vector's order."""
        return [f"{blk}.{e}.{g}" for blk in self.block_names for e in self.experts for g in GENES]

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def lows(self) -> np.ndarray:
        return np.array([self._bounds(n)[0] for n in self.names])

    @property
    def highs(self) -> np.ndarray:
        return np.array([self._bounds(n)[1] for n in self.names])

    @property
    def x0(self) -> np.ndarray:
        """The centre of the box: a neutral start for CMA-ES."""
        return (self.lows + self.highs) / 2.0

    def _bounds(self, name: str) -> tuple[float, float]:
        return self.weight_bounds if name.endswith(".weight") else self.density_bounds

    def block_of_layer(self, layer: int) -> int:
        return layer * self.blocks // self.num_layers

    def gene_depth(self) -> np.ndarray:
        """Depth block of each gene (io genes: -1), for split-point crossover."""
        per = len(self.experts) * len(GENES)
        return np.array([b for b in range(self.blocks) for _ in range(per)] + [-1] * per)

    def expert_vector(self, expert: str) -> np.ndarray:
        """The genome whose plan reproduces one expert (weight 1, density 1, others weight 0)."""
        if expert not in self.experts:
            raise ValueError(f"Genome: unknown expert {expert!r} (experts: {', '.join(self.experts)})")
        x = np.empty(self.dim)
        for i, n in enumerate(self.names):
            _, e, g = n.split(".")
            x[i] = (1.0 if e == expert else 0.0) if g == "weight" else 1.0
        return np.clip(x, self.lows, self.highs)

    def as_vector(self, x: Sequence[float] | np.ndarray | Mapping[str, float]) -> np.ndarray:
        if isinstance(x, Mapping):
            missing = [n for n in self.names if n not in x]
            if missing:
                raise ValueError(f"Genome: missing genes {missing[:3]}{'...' if len(missing) > 3 else ''}")
            x = [float(x[n]) for n in self.names]
        v = np.asarray(x, dtype=float)
        if v.shape != (self.dim,):
            raise ValueError(f"Genome: expected {self.dim} values, got shape {v.shape}")
        return np.clip(v, self.lows, self.highs)

    def values(self, x: Sequence[float] | np.ndarray | Mapping[str, float]) -> dict[str, float]:
        return dict(zip(self.names, self.as_vector(x).tolist(), strict=True))

    def _group(self, block: str, v: dict[str, float], layer: int | None) -> Group:
        sources = [
            Source(model=e, layer=layer, params={g: round(v[f"{block}.{e}.{g}"], 6) for g in GENES})
            for e in self.experts
        ]
        return Group(
            method=self.method,
            sources=sources,
            base=Source(model=self.base, layer=layer),
            params=dict(self.group_params),
        )

    def decode(self, x: Sequence[float] | np.ndarray | Mapping[str, float]) -> MergePlan:
        """The plan for genome `x` (clipped to bounds)."""
        v = self.values(x)
        layers = [self._group(f"b{self.block_of_layer(i)}", v, i) for i in range(self.num_layers)]
        io = self._group("io", v, None)
        return MergePlan(
            models=[self.base, *self.experts],
            base_model=self.base,
            embed=io,
            layers=layers,
            norm=io,
            head=None if self.tied else io,
            seed=self.seed,
        )

    def recipe(
        self, x: Sequence[float] | np.ndarray | Mapping[str, float], title: str = "genome point"
    ) -> str:
        """A recipe whose plan is exactly `decode(x)`, so a genome candidate exports, re-runs and
        diffs like any evolved recipe (its numbers as module constants, no tunables)."""
        v = {k: round(val, 6) for k, val in self.values(x).items()}
        genes = "".join(f"    {json.dumps(k)}: {val!r},\n" for k, val in v.items())
        params = json.dumps(dict(self.group_params))
        return f'''"""{title}: per depth block and expert, the weight and density of {self.method}
over the base (a fixed parameter-space genome, as Sakana PS and mergekit-evolve search it; no
proposer wrote it)."""

from recipe_api import group, per_layer, plan, src

METHOD = {json.dumps(self.method)}
EXPERTS = {json.dumps(list(self.experts))}
BASE = {json.dumps(self.base)}
NUM_LAYERS = {self.num_layers}
BLOCKS = {self.blocks}
TIED = {self.tied!r}
SEED = {self.seed}
GROUP_PARAMS = {params}
GENES = {{
{genes}}}


def block_group(block, layer):
    sources = [
        src(e, layer, weight=GENES[f"{{block}}.{{e}}.weight"], density=GENES[f"{{block}}.{{e}}.density"])
        for e in EXPERTS
    ]
    return group(METHOD, sources, layer=layer, base=src(BASE, layer), **GROUP_PARAMS)


def build():
    io = block_group("io", None)
    layers = [block_group(f"b{{i * BLOCKS // NUM_LAYERS}}", i) for i in range(NUM_LAYERS)]
    return plan(layers, embed=io, norm=io, head=None if TIED else io, base=BASE, seed=SEED)
'''
