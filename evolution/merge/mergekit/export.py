"""MergePlan → mergekit YAML, for plans mergekit can express; else an error naming the group.

Works from the resolved tensor jobs (every parameter as a number per output tensor), so the
YAML means exactly what evomerge computes: runs of consecutive layer groups become slices,
per-layer values become gradients with one point per layer (mergekit's t hits each exactly),
per-module differences become filter rules, and embeddings / final norm / head values that
differ from the layer rules get rules naming their tensors (mergekit evaluates them at t = 0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evolution.merge.arch import split_name
from evolution.merge.mergekit.yaml_config import evaluate
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import Group, MergePlan, PlanError
from evolution.merge.registry import MethodSpec, get_method
from evolution.merge.tensor_jobs import TensorJob, output_alias, plan_tensor_jobs


@dataclass
class _Run:
    """Consecutive layer groups that one mergekit slice can express."""

    start: int  # first output layer
    groups: list[Group] = field(default_factory=list)


def _takes_base(spec: MethodSpec) -> bool:
    """Methods whose mergekit form lists the base among a slice's sources."""
    return spec.needs_base or spec.name == "multislerp"


def _models(g: Group, spec: MethodSpec) -> list[tuple[str, int | None]]:
    """Slice inputs as mergekit sees them: sources, then the base when the method takes one."""
    out = [(s.model, s.layer) for s in g.sources]
    if _takes_base(spec) and g.base is not None:
        out.append((g.base.model, g.base.layer if g.base.layer is not None else g.sources[0].layer))
    return out


def _continues(run: _Run, g: Group, spec: MethodSpec) -> bool:
    prev = _models(run.groups[-1], spec)
    cur = _models(g, spec)
    if [m for m, _ in prev] != [m for m, _ in cur]:
        return False
    return all(
        b is not None and a is not None and b == a + 1 for (_, a), (_, b) in zip(prev, cur, strict=True)
    )


def _compress(values: list[Any]) -> Any:
    if all(v == values[0] for v in values):
        return values[0]
    if any(isinstance(v, bool) for v in values):
        raise PlanError(
            "a true/false parameter that changes from layer to layer cannot be written for mergekit"
        )
    return [float(v) for v in values]


def _encode(per_suffix: dict[str, list[Any]], extras: dict[str, Any]) -> Any:
    """Per-suffix per-layer values (+ exact values for named tensors at t=0) → a mergekit setting."""
    lists = {s: tuple(v) for s, v in per_suffix.items()}
    common, _ = Counter(lists.values()).most_common(1)[0]
    rules: list[dict[str, Any]] = []
    base_value = _compress(list(common))
    for name, value in extras.items():
        if evaluate(base_value, name, 0.0) != value:
            rules.append({"filter": name, "value": value})
    for suffix, values in lists.items():
        if values != common:
            rules.append({"filter": "." + suffix, "value": _compress(list(values))})
    if not rules:  # always explicit: mergekit's defaults and required parameters need not match ours
        return base_value
    return [*rules, {"value": base_value}]


def _scale_of(job: TensorJob, j: int) -> Any:
    value = job.model_params[j].get("scale", 1.0)
    return float(value) * job.residual_scale  # type: ignore[arg-type]


class _Exporter:
    def __init__(self, plan: MergePlan, paths: Mapping[str, str], folders: Mapping[str, ModelFolder]) -> None:
        self.plan = plan
        self.paths = paths
        self.folders = folders
        methods = {g.method for _, g in plan.iter_groups()}
        if len(methods) != 1:
            where = next(w for w, g in plan.iter_groups() if g.method != plan.layers[0].method)
            raise PlanError(
                f"plan.{where}: mergekit merges with one method, this plan uses {', '.join(sorted(methods))}"
            )
        self.spec = get_method(plan.layers[0].method)
        if self.spec.mergekit is None:
            raise PlanError(f"plan.layers[0].method: {self.spec.name} has no mergekit equivalent")
        self.jobs: dict[str, list[TensorJob]] = {}
        for job in plan_tensor_jobs(plan, folders):
            self.jobs.setdefault(job.group, []).append(job)
            if job.residual_scale != 1.0 and self.spec.name != "passthrough":
                raise PlanError(
                    f"plan.{job.group}.residual_scale: mergekit can only scale passthrough layers"
                )

    def path(self, alias: str) -> str:
        if alias not in self.paths:
            raise PlanError(f"plan model {alias!r} has no path (give --model {alias}=PATH)")
        return self.paths[alias]

    def runs(self) -> list[_Run]:
        runs: list[_Run] = []
        for i, g in enumerate(self.plan.layers):
            if g.residual_scale != 1.0 and self.spec.name != "passthrough":
                raise PlanError(
                    f"plan.layers[{i}].residual_scale: mergekit can only scale passthrough layers"
                )
            models = [m for m, _ in _models(g, self.spec)]
            if len(set(models)) != len(models):
                raise PlanError(
                    f"plan.layers[{i}]: a model appears twice among the sources; "
                    "mergekit cannot tell them apart"
                )
            if runs and _continues(runs[-1], g, self.spec):
                runs[-1].groups.append(g)
            else:
                runs.append(_Run(i, [g]))
        return runs

    def _values(self, run: _Run, key: str, j: int | None) -> dict[str, list[Any]]:
        """suffix → value per layer of the run, for a group parameter (j None) or source j's."""
        out: dict[str, list[Any]] = {}
        for k in range(len(run.groups)):
            for job in self.jobs[f"layers[{run.start + k}]"]:
                suffix = split_name(job.out_name).suffix
                if key == "scale" and j is not None:
                    value = _scale_of(job, j)
                else:
                    value = job.params[key] if j is None else job.model_params[j][key]
                out.setdefault(suffix, []).append(value)
        return out

    def _extras(self, groups: list[str], key: str, j: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for where in groups:
            for job in self.jobs.get(where, []):
                out[job.out_name] = job.params[key] if j is None else job.model_params[j][key]
        return out

    def _check_edges(self, run: _Run, where: str, group: Group | None) -> None:
        if group is None:
            return
        want = [m for m, _ in _models(run.groups[0], self.spec)]
        got = [m for m, _ in _models(group, self.spec)]
        if want != got:
            raise PlanError(
                f"plan.{where}: mergekit takes it from the models of the adjacent layers ({', '.join(want)})"
            )

    def slices(self) -> list[dict[str, Any]]:
        runs = self.runs()
        self._check_edges(runs[0], "embed", self.plan.embed)
        self._check_edges(runs[-1], "norm", self.plan.norm)
        self._check_edges(runs[-1], "head", self.plan.head)
        out = []
        for r, run in enumerate(runs):
            edges = (["embed"] if r == 0 else []) + (["norm", "head"] if r == len(runs) - 1 else [])
            first = run.groups[0]
            params: dict[str, Any] = {}
            for p in self.spec.params:
                if not p.per_model:
                    v = _encode(self._values(run, p.name, None), self._extras(edges, p.name, None))
                    if v is not None:
                        params[p.name] = v
            sources = []
            for j, src in enumerate(first.sources):
                sp: dict[str, Any] = {}
                for p in self.spec.params:
                    if p.per_model:
                        v = _encode(self._values(run, p.name, j), self._extras(edges, p.name, j))
                        if v is not None:
                            sp[p.name] = v
                assert src.layer is not None
                entry: dict[str, Any] = {
                    "model": self.path(src.model),
                    "layer_range": [src.layer, src.layer + len(run.groups)],
                }
                if sp:
                    entry["parameters"] = sp
                sources.append(entry)
            if _takes_base(self.spec) and first.base is not None:
                b = first.base.layer if first.base.layer is not None else first.sources[0].layer
                assert b is not None
                sources.append(
                    {"model": self.path(first.base.model), "layer_range": [b, b + len(run.groups)]}
                )
            sl: dict[str, Any] = {"sources": sources}
            base = self._slice_base(first)
            if base is not None and base != self._global_base():
                sl["base_model"] = self.path(base)
            if params:
                sl["parameters"] = params
            out.append(sl)
        return out

    def _slice_base(self, g: Group) -> str | None:
        if self.spec.name == "slerp":
            return g.sources[0].model
        return g.base.model if _takes_base(self.spec) and g.base is not None else None

    def _global_base(self) -> str | None:
        return self._slice_base(self.plan.layers[0])

    def document(self) -> dict[str, Any]:
        plan = self.plan
        cfg_alias = output_alias(plan)
        tied = self.folders[cfg_alias].tied_embeddings()
        if (plan.head is None) != tied:
            want = "ties its embeddings" if plan.head is None else "has a separate head"
            raise PlanError(f"plan.head: the output {want}, but mergekit follows {cfg_alias}'s config")
        doc: dict[str, Any] = {"merge_method": self.spec.mergekit}
        base = self._global_base()
        if base is not None:
            doc["base_model"] = self.path(base)
        doc["dtype"] = plan.dtype
        if plan.tokenizer_source is not None:
            doc["tokenizer_source"] = self.path(plan.tokenizer_source)
        doc["slices"] = self.slices()
        return _as_models_form(doc, {a: f.num_layers() for a, f in self.folders.items()}, self.paths)


def _as_models_form(
    doc: dict[str, Any], depth: Mapping[str, int], paths: Mapping[str, str]
) -> dict[str, Any]:
    """One slice over every model's full depth reads better as `models:`; same meaning."""
    slices = doc["slices"]
    by_path = {paths[a]: n for a, n in depth.items() if a in paths}
    if len(slices) != 1 or "base_model" in slices[0]:
        return doc
    sources = slices[0]["sources"]
    if not all(s["layer_range"] == [0, by_path.get(s["model"], -1)] for s in sources):
        return doc
    out = {k: v for k, v in doc.items() if k != "slices"}
    if "parameters" in slices[0]:
        out["parameters"] = slices[0]["parameters"]
    out["models"] = [{k: v for k, v in s.items() if k != "layer_range"} for s in sources]
    return out


def plan_to_mergekit(
    plan: MergePlan, paths: Mapping[str, str], folders: Mapping[str, ModelFolder]
) -> dict[str, Any]:
    """The mergekit config (as data) meaning the same merge as `plan`."""
    return _Exporter(plan, paths, folders).document()


def plan_to_mergekit_yaml(
    plan: MergePlan, paths: Mapping[str, str], folders: Mapping[str, ModelFolder]
) -> str:
    import yaml

    return yaml.safe_dump(plan_to_mergekit(plan, paths, folders), sort_keys=False, default_flow_style=None)
