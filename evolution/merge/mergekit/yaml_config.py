"""mergekit YAML → MergePlan, meaning exactly what mergekit 0.1.5 makes of it.

mergekit's semantics, mirrored here (read from its config.py, plan.py, parameter_resolver.py):
- `models:` is one slice over every model's full depth; a base model missing from the list
  is added as a source.
- Per layer, t = idx / (n - 1) within its slice (t = 1 for a one-layer slice); embeddings,
  final norm and head take t = 0, with the first slice's settings for embeddings and the last
  slice's for norm and head.
- A parameter is looked up per source, then on the slice, then at the top level; the first
  setting that yields a value wins (a filter list that matches nothing falls through).
  Filters are substrings of the tensor name ("*" matches all); numeric gradients interpolate,
  boolean gradients pick a step.
Gradients are resolved to numbers per layer group here, so the plan does not depend on how
evomerge places t. Export (MergePlan → YAML) lives in `mergekit_export.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolution.merge.modelio import ModelFolder, open_model, text_config
from evolution.merge.plan import FilterRule, Group, MergePlan, PlanError, Source, parse_plan
from evolution.merge.registry import MethodSpec, all_methods

Setting = Any  # a raw YAML parameter setting
IGNORED_PARAMS = {"int8_mask"}  # memory-only switches in mergekit; no effect on results
_TOP_KEYS = {"models", "slices", "modules", "merge_method", "base_model", "dtype", "out_dtype",
             "tokenizer_source", "tokenizer", "chat_template", "parameters"}  # fmt: skip


@dataclass(frozen=True)
class MergekitImport:
    """The plan, plus which path each alias stands for, the opened folders and the write dtype."""

    plan: MergePlan
    paths: dict[str, str]
    folders: dict[str, ModelFolder]
    out_dtype: str | None = None  # mergekit's out_dtype when it differs from the merge dtype


def method_for_mergekit(name: str, origin: str = "config") -> MethodSpec:
    for spec in all_methods().values():
        if spec.mergekit == name:
            return spec
    known = sorted(s.mergekit for s in all_methods().values() if s.mergekit)
    raise PlanError(
        f"{origin}.merge_method: mergekit method {name!r} has no evomerge equivalent "
        f"(have: {', '.join(known)})"
    )


def derive_aliases(refs: list[str]) -> dict[str, str]:
    """Model reference → alias: the folder or repo name, sanitized, de-duplicated in order."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for ref in refs:
        if ref in out:
            continue
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(ref.rstrip("/")).name).strip("._") or "model"
        alias, n = stem, 2
        while alias in used:
            alias, n = f"{stem}_{n}", n + 1
        used.add(alias)
        out[ref] = alias
    return out


def _ref(value: Any, where: str) -> str:
    if isinstance(value, dict) and isinstance(value.get("model"), (str, dict)):
        value = value["model"]
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        value = value["path"]
    if not isinstance(value, str) or not value:
        raise PlanError(f"{where}: expected a model path or hub id, got {value!r}")
    if "+" in value:
        raise PlanError(f"{where}: LoRA model references ({value}) are not supported")
    return value


def _matches(rule_filter: Any, tensor_name: str) -> bool:
    return rule_filter is None or rule_filter == "*" or str(rule_filter) in tensor_name


def evaluate(setting: Setting, tensor_name: str, t: float) -> float | bool | None:
    """One setting at one tensor and depth, as mergekit's evaluate_setting does."""
    if isinstance(setting, dict):
        setting = [setting]
    if isinstance(setting, bool):
        return setting
    if isinstance(setting, (int, float)):
        return float(setting)
    if isinstance(setting, str):
        try:
            return float(setting)
        except ValueError:
            raise PlanError(f"parameter value {setting!r}: expected a number or true/false") from None
    if isinstance(setting, list):
        if not setting:
            return None
        if all(not isinstance(e, dict) for e in setting):
            values = [evaluate(e, tensor_name, t) for e in setting]
            if any(isinstance(v, bool) for v in values):
                return values[int(t * (len(values) - 1))]
            scaled = t * (len(values) - 1)
            i0 = int(scaled)
            i1 = min(len(values) - 1, i0 + 1)
            frac = scaled - i0
            return (1 - frac) * float(values[i0]) + frac * float(values[i1])  # type: ignore[arg-type]
        for cond in setting:
            if not isinstance(cond, dict) or "value" not in cond:
                raise PlanError(f"parameter rule {cond!r}: expected {{filter: ..., value: ...}}")
            if _matches(cond.get("filter"), tensor_name):
                return evaluate(cond["value"], tensor_name, t)
        return None
    raise PlanError(f"parameter value {setting!r}: expected a number, a list of numbers or filter rules")


def rules_at(scopes: list[Setting], t: float, as_bool: bool = False) -> list[FilterRule]:
    """Settings in precedence order → first-match filter rules with values resolved at t.

    `as_bool` coerces numbers for true/false parameters, as mergekit's validation does.
    """
    rules: list[FilterRule] = []
    for setting in scopes:
        if setting is None:
            continue
        if isinstance(setting, dict):
            conds = [setting]
        elif isinstance(setting, list) and setting and all(isinstance(e, dict) for e in setting):
            conds = setting
        else:
            conds = [{"filter": None, "value": setting}]
        for cond in conds:
            flt = cond.get("filter")
            value = evaluate(cond.get("value"), "", t)
            if value is None:
                continue
            if as_bool and not isinstance(value, bool):
                value = bool(value)
            rules.append(FilterRule(filter=None if flt in (None, "*") else str(flt), value=value))
            if rules[-1].filter is None:
                return rules
    return rules


def _param_value(rules: list[FilterRule]) -> Any:
    if not rules:
        return None
    if len(rules) == 1 and rules[0].filter is None:
        return rules[0].value
    return rules


@dataclass(frozen=True)
class _In:
    """One slice input: model reference, first layer, its own parameters."""

    ref: str
    start: int
    params: Mapping[str, Setting]


@dataclass(frozen=True)
class _Slice:
    inputs: list[_In]
    length: int
    base: str | None
    params: Mapping[str, Setting]


class _Importer:
    def __init__(self, data: Mapping[str, Any], origin: str, opener: Callable[[str], ModelFolder]) -> None:
        self.data = data
        self.origin = origin
        self.opener = opener
        self.folders: dict[str, ModelFolder] = {}
        self.spec = method_for_mergekit(str(data.get("merge_method")), origin)
        self.global_params: Mapping[str, Setting] = self._params(
            data.get("parameters"), f"{origin}.parameters"
        )

    def folder(self, ref: str) -> ModelFolder:
        if ref not in self.folders:
            self.folders[ref] = self.opener(ref)
        return self.folders[ref]

    def _params(self, value: Any, where: str) -> Mapping[str, Setting]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise PlanError(f"{where}: expected a mapping of parameter names to values")
        # mergekit ignores parameters its method does not take (e.g. density for task_arithmetic);
        # so do we, but a name no method knows is likely a typo.
        anywhere = {p.name for spec in all_methods().values() for p in spec.params} | IGNORED_PARAMS
        for key in value:
            if key not in anywhere:
                known = ", ".join(p.name for p in self.spec.params) or "none"
                raise PlanError(
                    f"{where}.{key}: {self.spec.mergekit} has no parameter {key!r} (known: {known})"
                )
        return {k: v for k, v in value.items() if self.spec.param(k) is not None}

    def slices(self) -> list[_Slice]:
        data, o = self.data, self.origin
        base = _ref(data["base_model"], f"{o}.base_model") if data.get("base_model") is not None else None
        if data.get("modules") is not None:
            raise PlanError(f"{o}.modules: per-module configs are not supported; use models or slices")
        if (data.get("models") is None) == (data.get("slices") is None):
            raise PlanError(f"{o}: exactly one of 'models' or 'slices' must be given")
        if data.get("models") is not None:
            models = data["models"]
            if not isinstance(models, list) or not models:
                raise PlanError(f"{o}.models: expected a non-empty list")
            inputs = []
            for i, m in enumerate(models):
                where = f"{o}.models[{i}]"
                if not isinstance(m, dict) or "model" not in m:
                    raise PlanError(f"{where}: expected {{model: PATH, parameters: ...}}")
                inputs.append(
                    _In(
                        _ref(m["model"], f"{where}.model"),
                        0,
                        self._params(m.get("parameters"), f"{where}.parameters"),
                    )
                )
            if base is not None and base not in [x.ref for x in inputs]:
                inputs.append(_In(base, 0, {}))
            depth = {x.ref: self.folder(x.ref).num_layers() for x in inputs}
            if len(set(depth.values())) != 1:
                raise PlanError(f"{o}.models: models have different layer counts {depth}; use slices")
            return [_Slice(inputs, next(iter(depth.values())), base, {})]
        out = []
        for i, s in enumerate(data["slices"]):
            where = f"{o}.slices[{i}]"
            if not isinstance(s, dict) or not isinstance(s.get("sources"), list) or not s["sources"]:
                raise PlanError(f"{where}: expected {{sources: [...]}}")
            if s.get("residual_weight") is not None:
                raise PlanError(f"{where}.residual_weight: not supported")
            inputs, lengths = [], []
            for j, src in enumerate(s["sources"]):
                sw = f"{where}.sources[{j}]"
                lr = src.get("layer_range") if isinstance(src, dict) else None
                if not (
                    isinstance(lr, list)
                    and len(lr) == 2
                    and all(isinstance(v, int) for v in lr)
                    and lr[0] <= lr[1]
                ):
                    raise PlanError(f"{sw}.layer_range: expected [start, end] with start <= end")
                ref = _ref(src.get("model"), f"{sw}.model")
                n = self.folder(ref).num_layers()
                if lr[1] > n:
                    raise PlanError(f"{sw}.layer_range: model {ref} has {n} layers, range {lr} goes past it")
                inputs.append(_In(ref, lr[0], self._params(src.get("parameters"), f"{sw}.parameters")))
                lengths.append(lr[1] - lr[0])
            if len(set(lengths)) != 1:
                raise PlanError(
                    f"{where}.sources: all sources of a slice must span the same number of layers"
                )
            sbase = _ref(s["base_model"], f"{where}.base_model") if s.get("base_model") else base
            out.append(
                _Slice(inputs, lengths[0], sbase, self._params(s.get("parameters"), f"{where}.parameters"))
            )
        return out

    def group(self, sl: _Slice, idx: int | None, t: float, aliases: Mapping[str, str], where: str) -> Group:
        """One plan group for layer `idx` of the slice (None: embed/norm/head)."""
        spec = self.spec
        base_in = next((x for x in sl.inputs if x.ref == sl.base), None) if sl.base else None
        takes_base = spec.needs_base or (spec.name == "multislerp" and sl.base is not None)
        uses_base = takes_base or spec.name == "slerp"
        if uses_base and sl.base is None:
            raise PlanError(f"{where}: {spec.mergekit} needs base_model")
        if uses_base and base_in is None:
            raise PlanError(f"{where}: base_model {sl.base} must be one of the slice's sources")
        others = [x for x in sl.inputs if not (uses_base and x.ref == sl.base)]
        if spec.name == "slerp":
            others = [base_in, *others]  # type: ignore[list-item]

        def layer(x: _In) -> int | None:
            return None if idx is None else x.start + idx

        group_params = {}
        for p in spec.params:
            if not p.per_model:
                v = _param_value(
                    rules_at([sl.params.get(p.name), self.global_params.get(p.name)], t, p.kind == "bool")
                )
                if v is not None:
                    group_params[p.name] = v
        sources = []
        for x in others:
            params = {}
            for p in spec.params:
                if p.per_model:
                    scopes = [x.params.get(p.name), sl.params.get(p.name), self.global_params.get(p.name)]
                    v = _param_value(rules_at(scopes, t, p.kind == "bool"))
                    if v is not None:
                        params[p.name] = v
            sources.append(Source(model=aliases[x.ref], layer=layer(x), params=params))
        base = None
        if takes_base and base_in is not None:
            base = Source(model=aliases[base_in.ref], layer=layer(base_in))
        return Group(method=spec.name, sources=sources, base=base, params=group_params)


def plan_from_mergekit(
    data: Any, *, origin: str = "config", opener: Callable[[str], ModelFolder] = open_model
) -> MergekitImport:
    """Build the plan a mergekit config means; opens (header-only) each model for depth and tying."""
    if not isinstance(data, dict):
        raise PlanError(f"{origin}: expected a mergekit config mapping")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise PlanError(f"{origin}.{unknown[0]}: not a mergekit config key")
    if data.get("merge_method") is None:
        raise PlanError(f"{origin}.merge_method: missing")
    if data.get("tokenizer") is not None:
        raise PlanError(f"{origin}.tokenizer: vocabulary merging is not supported; use tokenizer_source")
    imp = _Importer(data, origin, opener)
    slices = imp.slices()
    base_ref = (
        _ref(data["base_model"], f"{origin}.base_model") if data.get("base_model") is not None else None
    )
    refs = [base_ref] if base_ref else []
    refs += [x.ref for s in slices for x in s.inputs] + [s.base for s in slices if s.base]
    aliases = derive_aliases(refs)
    first, last = slices[0], slices[-1]
    embed = imp.group(first, None, 0.0, aliases, f"{origin}.slices[0]")
    layers = []
    for i, sl in enumerate(slices):
        for idx in range(sl.length):
            t = idx / (sl.length - 1) if sl.length > 1 else 1.0
            layers.append(imp.group(sl, idx, t, aliases, f"{origin}.slices[{i}]"))
    post = imp.group(last, None, 0.0, aliases, f"{origin}.slices[{len(slices) - 1}]")
    config_ref = base_ref or refs[0]  # mergekit: the base's config, else a referenced model's
    tied = imp.folder(config_ref).tied_embeddings()
    tok = data.get("tokenizer_source")
    tok_alias = None
    if tok == "union":
        raise PlanError(f"{origin}.tokenizer_source: 'union' (vocabulary merging) is not supported")
    if tok == "base":
        tok_alias = aliases[base_ref] if base_ref else None
    elif tok is not None:
        tref = _ref(tok, f"{origin}.tokenizer_source")
        if tref not in aliases:
            aliases.update(derive_aliases([*aliases, tref]))
            imp.folder(tref)
        tok_alias = aliases[tref]
    source_dtype = str(text_config(imp.folder(config_ref).config).get("dtype") or "float32")
    dtype = _dtype(data.get("dtype") or data.get("out_dtype") or source_dtype, f"{origin}.dtype")
    out_dtype = _dtype(data["out_dtype"], f"{origin}.out_dtype") if data.get("out_dtype") else None
    plan_data = {
        "models": list(dict.fromkeys(aliases.values())),
        "base_model": aliases[base_ref] if base_ref else None,
        "dtype": dtype,
        "embed": embed.model_dump(mode="json"),
        "layers": [g.model_dump(mode="json") for g in layers],
        "norm": post.model_dump(mode="json"),
        "head": None if tied else post.model_dump(mode="json"),
        "config_source": aliases[config_ref],
        "tokenizer_source": tok_alias,
    }
    plan = parse_plan(plan_data, origin=origin)
    paths = {alias: ref for ref, alias in aliases.items()}
    folders = {aliases[r]: f for r, f in imp.folders.items()}
    return MergekitImport(plan, paths, folders, out_dtype if out_dtype != dtype else None)


def _dtype(value: Any, where: str) -> str:
    name = str(value).removeprefix("torch.")
    if name not in ("float32", "float16", "bfloat16"):
        raise PlanError(f"{where}: {name!r} is not one of float32, float16, bfloat16")
    return name


def load_mergekit_yaml(path: str | Path, opener: Callable[[str], ModelFolder] = open_model) -> MergekitImport:
    """Read a mergekit YAML file; model paths are taken as given (relative to the cwd, as mergekit does)."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise PlanError(f"{p}: not valid YAML{at}") from None
    return plan_from_mergekit(data, origin=str(p), opener=opener)
