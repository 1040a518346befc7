"""From a merge plan to one job per output tensor, and the one call that runs a job.

`plan_tensor_jobs` is pure bookkeeping over names and headers: which source tensors feed
each output tensor, the base tensor, resolved parameter numbers, the residual scale (with the
plan's DFS input scales folded in, `stream_scales`) and a seed. It checks everything it can
(models bound, layers in range, tensors present, shapes equal) before any tensor is read.
`run_job` is the only place plans meet method functions; the disk and in-memory materializers
both call it, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evolution.merge.arch import embed_name_for_head, is_residual_out, layer_name
from evolution.merge.modelio import ModelFolder
from evolution.merge.params import depth_position, resolve_params
from evolution.merge.plan import Group, GroupKind, MergePlan, PlanError, Source
from evolution.merge.registry import MergeInputs, MethodSpec, get_method

if TYPE_CHECKING:
    import torch

ParamDict = Mapping[str, "float | bool | None"]


@dataclass(frozen=True)
class TensorRef:
    """One tensor of one source model, by plan alias and checkpoint name."""

    model: str
    name: str


@dataclass(frozen=True)
class TensorJob:
    """Everything needed to build one output tensor; plain data, no tensors."""

    out_name: str
    group: str  # where in the plan, e.g. "layers[3]"
    method: str
    sources: tuple[TensorRef, ...]
    base: TensorRef | None
    params: ParamDict
    model_params: tuple[ParamDict, ...]
    residual_scale: float
    seed: int
    shape: tuple[int, ...] = field(default=())

    def refs(self) -> list[TensorRef]:
        """Every tensor this job reads (sources, then base), without repeats."""
        out = list(dict.fromkeys(self.sources))
        if self.base is not None and self.base not in out:
            out.append(self.base)
        return out


def job_seed(plan_seed: int, out_name: str) -> int:
    """A per-tensor seed stable across processes (never Python's salted hash())."""
    digest = hashlib.sha256(f"{plan_seed}:{out_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def output_alias(plan: MergePlan) -> str:
    """The model whose config and tensor naming the output takes."""
    return plan.config_source or plan.base_model or plan.models[0]


def _names_of(folder: ModelFolder, kind: GroupKind) -> list[str]:
    return [n for n, k in folder.keys.items() if k.kind == kind]


class _Planner:
    def __init__(self, plan: MergePlan, folders: Mapping[str, ModelFolder]) -> None:
        missing = [m for m in plan.models if m not in folders]
        if missing:
            raise PlanError(
                f"plan model {missing[0]!r} is not bound to a folder (give --model {missing[0]}=PATH)"
            )
        self.plan = plan
        self.folders = folders
        self.out = folders[output_alias(plan)]
        self.out_prefix = self.out.layer_prefix()
        self.jobs: list[TensorJob] = []

    def folder(self, alias: str) -> ModelFolder:
        return self.folders[alias]

    def source_name(
        self, where: str, alias: str, kind: GroupKind, out_key_suffix: str, layer: int | None
    ) -> str:
        folder = self.folder(alias)
        if kind == "layer":
            assert layer is not None
            n = folder.num_layers()
            if layer >= n:
                raise PlanError(f"plan.{where}: model {alias} has {n} layers, no layer {layer}")
            name = layer_name(folder.layer_prefix(), layer, out_key_suffix)
        else:
            name = out_key_suffix
        if not folder.has(name) and kind == "head":
            tied = embed_name_for_head(folder.tensor_names())
            if tied is not None:
                return tied
        if not folder.has(name):
            raise PlanError(f"plan.{where}: model {alias} ({folder.path}) has no tensor {name}")
        return name

    def add_group(
        self,
        where: str,
        kind: GroupKind,
        group: Group,
        out_names: list[tuple[str, str]],
        idx: int | None,
        stream_scale: float = 1.0,
    ):
        """out_names: (output tensor name, name-or-suffix to look up in sources); `stream_scale`:
        the product of the input scales up to this layer (see `stream_scales`)."""
        spec = get_method(group.method)
        t = depth_position(kind, idx, self.plan.num_layers)
        for out_name, lookup in out_names:
            sources = tuple(
                TensorRef(s.model, self.source_name(f"{where}.sources[{j}]", s.model, kind, lookup, s.layer))
                for j, s in enumerate(group.sources)
            )
            base = self._base_ref(where, kind, group, lookup, idx)
            shape = self._check_shapes(where, out_name, sources, base)
            params = resolve_params(group.params, spec.defaults(False), out_name, t)
            model_params = tuple(
                self._source_params(where, j, spec, s, out_name, t) for j, s in enumerate(group.sources)
            )
            residual = kind == "layer" and is_residual_out(lookup)
            scale = group.residual_scale / stream_scale if residual else 1.0
            self.jobs.append(
                TensorJob(
                    out_name=out_name,
                    group=where,
                    method=spec.name,
                    sources=sources,
                    base=base,
                    params=params,
                    model_params=model_params,
                    residual_scale=scale,
                    seed=job_seed(self.plan.seed, out_name),
                    shape=shape,
                )
            )

    def _base_ref(
        self, where: str, kind: GroupKind, group: Group, lookup: str, idx: int | None
    ) -> TensorRef | None:
        b: Source | None = group.base
        if b is None:
            return None
        layer = b.layer if b.layer is not None else (group.sources[0].layer if kind == "layer" else None)
        return TensorRef(b.model, self.source_name(f"{where}.base", b.model, kind, lookup, layer))

    def _source_params(
        self, where: str, j: int, spec: MethodSpec, src: Source, out_name: str, t: float
    ) -> ParamDict:
        values = resolve_params(src.params, spec.defaults(True), out_name, t)
        for key, value in values.items():
            if value is None:
                raise PlanError(
                    f"plan.{where}.sources[{j}].params.{key}: {spec.name} needs a value for {out_name}"
                )
        return values

    def _check_shapes(
        self, where: str, out_name: str, sources: Sequence[TensorRef], base: TensorRef | None
    ) -> tuple[int, ...]:
        refs = list(sources) + ([base] if base is not None else [])
        first = refs[0]
        shape = self.folder(first.model).shape(first.name)
        for r in refs[1:]:
            other = self.folder(r.model).shape(r.name)
            if other != shape:
                raise PlanError(
                    f"plan.{where}: {out_name}: model {r.model} tensor {r.name} has shape {list(other)}, "
                    f"but model {first.model} tensor {first.name} has {list(shape)}"
                )
        return shape

    def build(self) -> list[TensorJob]:
        plan = self.plan
        embed = [(n, n) for n in _names_of(self.out, "embed")]
        self.add_group("embed", "embed", plan.embed, embed, None)
        streams = stream_scales(plan)
        for i, group in enumerate(plan.layers):
            first = group.sources[0]
            assert first.layer is not None
            src_folder = self.folder(first.model)
            n = src_folder.num_layers()
            if first.layer >= n:
                raise PlanError(
                    f"plan.layers[{i}].sources[0]: model {first.model} has {n} layers, no layer {first.layer}"
                )
            suffixes = src_folder.layer_suffixes(first.layer)
            names = [(layer_name(self.out_prefix, i, s), s) for s in suffixes]
            self.add_group(f"layers[{i}]", "layer", group, names, i, streams[i])
        self.add_group("norm", "norm", plan.norm, [(n, n) for n in _names_of(self.out, "norm")], None)
        if plan.head is not None:
            heads = [(n, n) for n in _names_of(self.out, "head")] or [("lm_head.weight", "lm_head.weight")]
            self.add_group("head", "head", plan.head, heads, None)
        return self.jobs


def stream_scales(plan: MergePlan) -> list[float]:
    """Per output layer k, P_k = the product of the input scales of layers 0..k.

    Why this executes a scaled hidden state: with pre-norm layers (every block reads its input
    through a scale-invariant RMS/LayerNorm, and so does the head) multiplying the stream by s
    before layer k and going on is the same network as dividing the residual outputs of layer
    k and every later layer by s: the stream a_k = P_k * c_k, where c_k is the unscaled stack
    whose layers' residual branches carry residual_scale / P_k. The two differ only through the
    norms' epsilon (relative 1e-6 here; tests/test_dfs.py measures it). So a plan with input
    scales is ordinary weights: both materializers and mergekit export (passthrough `scale`)
    handle it, and no runtime hook is needed.
    """
    out, p = [], 1.0
    for g in plan.layers:
        p *= g.input_scale
        out.append(p)
    return out


def plan_tensor_jobs(plan: MergePlan, folders: Mapping[str, ModelFolder]) -> list[TensorJob]:
    """One job per output tensor, in output order; raises PlanError before reading any tensor."""
    return _Planner(plan, folders).build()


def check_finite(t: torch.Tensor, model: str, name: str) -> None:
    """NaN/inf in a source is a PlanError naming it.

    One native-dtype sum (fast, no temporaries); only when that is not finite (a NaN, an inf,
    or a harmless overflow of the sum) does the exact element check run.
    """
    import torch

    if not t.is_floating_point() or bool(torch.isfinite(t.sum())):
        return
    if not bool(torch.isfinite(t).all()):
        raise PlanError(f"model {model}: tensor {name} contains NaN or inf")


def run_job(
    job: TensorJob,
    tensors: Sequence[torch.Tensor],
    base: torch.Tensor | None,
    task_vectors: Sequence[torch.Tensor] | None = None,
    *,
    check: bool = True,
) -> torch.Tensor:
    """Merge one output tensor from its source tensors (in job.sources order) and base.

    The result may be one of the inputs (passthrough): callers must not mutate it in place
    when they keep the inputs.
    """
    import torch

    if len(tensors) != len(job.sources):
        raise PlanError(f"{job.out_name}: got {len(tensors)} tensors for {len(job.sources)} sources")
    if check:
        for ref, t in zip(job.sources, tensors, strict=True):
            check_finite(t, ref.model, ref.name)
        if base is not None and job.base is not None:
            check_finite(base, job.base.model, job.base.name)
    spec = get_method(job.method)
    gen = torch.Generator(device=tensors[0].device).manual_seed(job.seed)
    inputs = MergeInputs(
        tensors=list(tensors),
        base=base,
        model_params=[dict(p) for p in job.model_params],
        params=dict(job.params),
        name=job.out_name,
        generator=gen,
        task_vectors=task_vectors,
    )
    out = spec.fn(inputs)
    if job.residual_scale != 1.0:
        out = out * job.residual_scale
    return out


def load_job_inputs(
    job: TensorJob,
    folders: Mapping[str, ModelFolder],
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    *,
    check: bool = False,
    copy: bool = True,
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Read a job's source tensors and base once each (a repeated ref is read once).

    With `check`, NaN/inf is caught here (e.g. in a reader thread, overlapping the merge)
    so that `run_job(..., check=False)` need not scan the inputs again. `copy=False` gives
    read-only mapped views (`ModelFolder.view`): the caller releases them when done.
    """
    cache: dict[TensorRef, torch.Tensor] = {}
    for ref in job.refs():
        t = folders[ref.model].read(ref.name, device=device, dtype=dtype, copy=copy)
        if check:
            check_finite(t, ref.model, ref.name)
        cache[ref] = t
    tensors = [cache[r] for r in job.sources]
    return tensors, (cache[job.base] if job.base is not None else None)
