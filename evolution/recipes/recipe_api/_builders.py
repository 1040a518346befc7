"""Typed builders that turn recipe code into merge-plan data, checking early and clearly.

Every check here is repeated by the trusted parent (evolution.merge.plan.parse_plan plus facts);
these exist so that a recipe fails at the line that is wrong, with a hint that fixes it.
"""

from __future__ import annotations

from typing import Any

from ._state import _STATE, RecipeAPIError, aliases, method_spec, model_dict
from ._values import _check_value, _number

DTYPES = ("float32", "float16", "bfloat16")


class _Default:
    """Marks 'use the run's base' in signatures (an alias could be any string)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


def _check_layer(alias: str, layer: Any, where: str) -> int | None:
    if layer is None:
        return None
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise RecipeAPIError(
            f"{where}: layer must be an int, got {type(layer).__name__}", "use range(...) indices"
        )
    n = int(model_dict(alias)["num_layers"])
    if not 0 <= layer < n:
        raise RecipeAPIError(
            f"{where}: model {alias!r} has layers 0..{n - 1}, not {layer}",
            f"use models[{alias!r}].num_layers to stay in range",
        )
    return layer


class Source:
    """One input of a group: a model alias, a layer (None outside layer groups), per-source params."""

    __slots__ = ("model", "layer", "params")

    def __init__(self, model: str, layer: int | None = None, params: dict[str, Any] | None = None) -> None:
        if not isinstance(model, str):
            raise RecipeAPIError(
                f"a source model must be an alias string, got {type(model).__name__}", f"one of {aliases()}"
            )
        self.model: str = model_dict(model)["alias"]  # the facts' own str, never a recipe object
        self.layer = _check_layer(model, layer, f"source {model!r}")
        self.params = dict(params or {})

    def at(self, layer: int | None) -> Source:
        return Source(self.model, layer, self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "layer": self.layer, "params": dict(self.params)}

    def __repr__(self) -> str:
        return f"src({self.model!r}, {self.layer})"


def src(model: str, layer: int | None = None, **params: Any) -> Source:
    """A source: `src(models.experts[0], 3, weight=0.7)`. Params are the method's per-source ones."""
    return Source(model, layer, params)


class Group:
    """How one output group is built: method over sources, optional base, params, residual scale
    and (layers only) the scale of the hidden state entering the layer."""

    __slots__ = ("method", "sources", "base", "params", "residual_scale", "input_scale")

    def __init__(
        self,
        method: str,
        sources: list[Source],
        base: Source | None,
        params: dict[str, Any],
        residual_scale: float,
        input_scale: float = 1.0,
    ) -> None:
        self.method, self.sources, self.base = method, sources, base
        self.params, self.residual_scale, self.input_scale = params, residual_scale, input_scale

    def at(self, layer: int | None) -> Group:
        """The same group reading another layer index (None: embeddings, norm, head)."""
        base = self.base.at(layer) if self.base is not None else None
        return Group(
            self.method,
            [s.at(layer) for s in self.sources],
            base,
            dict(self.params),
            self.residual_scale if layer is not None else 1.0,
            self.input_scale if layer is not None else 1.0,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "sources": [s.to_dict() for s in self.sources],
            "base": self.base.to_dict() if self.base is not None else None,
            "params": dict(self.params),
            "residual_scale": self.residual_scale,
            "input_scale": self.input_scale,
        }

    def __repr__(self) -> str:
        return f"group({self.method!r}, {self.sources!r})"


def group(
    method: str,
    sources: Any = None,
    *,
    layer: int | None = None,
    base: Any = DEFAULT,
    residual_scale: float = 1.0,
    input_scale: float = 1.0,
    **params: Any,
) -> Group:
    """One group. `sources`: aliases or src(...); default: the experts (or every model when the
    method needs no base). `layer` fills the layer of alias sources. `base`: alias, src() or None;
    by default the run's base when the method needs one. Per-source params may be a dict
    {alias: value}; group params a number, gradient(...) or rules(...). `input_scale` (a layer
    group's) multiplies the hidden state entering the layer, as DFS scales a change of model."""
    spec = method_spec(method)
    if sources is None:
        sources = _default_sources(spec)
    if isinstance(sources, (str, Source)):
        sources = [sources]
    srcs = [
        s.at(layer) if isinstance(s, Source) and layer is not None and s.layer is None else s for s in sources
    ]
    srcs = [Source(s, layer) if isinstance(s, str) else s for s in srcs]
    if not all(isinstance(s, Source) for s in srcs):
        raise RecipeAPIError(
            "sources must be aliases or src(...) values", "e.g. group('ties', models.experts)"
        )
    n = len(srcs)
    lo, hi = spec["min_sources"], spec["max_sources"]
    if n < lo or (hi is not None and n > hi):
        most = "any number" if hi is None else f"at most {hi}"
        raise RecipeAPIError(
            f"{spec['name']} takes at least {lo} and {most} sources, got {n}",
            "pass fewer/more sources, or choose another method",
        )
    if base is DEFAULT:
        base = _STATE["base"] if spec["needs_base"] else None
    if isinstance(base, str):
        base = Source(base, layer)
    if spec["needs_base"] and base is None:
        raise RecipeAPIError(
            f"{spec['name']} needs a base model", "pass base=models.base (task vectors need it)"
        )
    if base is not None and not isinstance(base, Source):
        raise RecipeAPIError("base must be an alias, src(...) or None", "base=models.base")
    pspecs = {p["name"]: p for p in spec["params"]}
    group_params: dict[str, Any] = {}
    per_source: dict[str, dict[str, Any]] = {s.model: dict(s.params) for s in srcs}
    for key, value in params.items():
        p = pspecs.get(key)
        if p is None:
            raise RecipeAPIError(
                f"{spec['name']} has no parameter {key!r}", f"its parameters: {', '.join(pspecs) or 'none'}"
            )
        if not p["per_model"]:
            group_params[key] = _check_value(p, value, f"{spec['name']}.{key}")
            continue
        for s in srcs:
            v = value.get(s.model) if isinstance(value, dict) else value
            if v is None and isinstance(value, dict):
                raise RecipeAPIError(
                    f"{key} gives no value for source {s.model!r}", f"give every source: {value}"
                )
            per_source[s.model][key] = v
    out_sources = []
    for s in srcs:
        checked = {}
        for key, value in per_source[s.model].items():
            p = pspecs.get(key)
            if p is None or not p["per_model"]:
                raise RecipeAPIError(
                    f"{spec['name']} has no per-source parameter {key!r}",
                    f"per-source: {', '.join(k for k, q in pspecs.items() if q['per_model'])}",
                )
            checked[key] = _check_value(p, value, f"{spec['name']}.{key} of {s.model!r}")
        out_sources.append(Source(s.model, s.layer, checked))
    scale = _number(residual_scale, "residual_scale")
    if not 0.0 <= scale <= 4.0:
        raise RecipeAPIError(f"residual_scale={scale:g} is outside [0, 4]", "scale a stacked layer by 0..4")
    into = _number(input_scale, "input_scale")
    if not 1 / 64 <= into <= 64.0:
        raise RecipeAPIError(f"input_scale={into:g} is outside [1/64, 64]", "scale a layer's input by 0.5..2")
    if into != 1.0 and layer is None and not any(s.layer is not None for s in out_sources):
        raise RecipeAPIError("input_scale applies to layer groups only", "pass layer=i with input_scale")
    return Group(spec["name"], out_sources, base, group_params, scale, into)


def _default_sources(spec: dict[str, Any]) -> list[str]:
    base = _STATE["base"]
    experts = [a for a in aliases() if a != base]
    return experts if spec["needs_base"] or base is None else [base, *experts]


class Plan:
    """A finished merge plan as data; build() returns one. `plan.layers`, `plan.to_dict()`."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def num_layers(self) -> int:
        return len(self.data["layers"])

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def __repr__(self) -> str:
        return f"Plan({self.num_layers} layers, models={self.data['models']})"


def plan(
    layers: list[Group],
    *,
    embed: Group | None = None,
    norm: Group | None = None,
    head: Group | None = None,
    base: Any = DEFAULT,
    dtype: str = "float32",
    config_source: str | None = None,
    tokenizer_source: str | None = None,
    seed: int = 0,
) -> Plan:
    """A plan from layer groups. embed defaults to the first layer's group read at the
    embeddings; norm and head to the last layer's. head is left out when the output model
    (config_source, default: the base) ties its embeddings."""
    layers = list(layers)
    if not layers or not all(isinstance(g, Group) for g in layers):
        raise RecipeAPIError(
            "plan() needs a non-empty list of groups", "layers=[group(...) for i in range(n)]"
        )
    if dtype not in DTYPES:
        raise RecipeAPIError(f"dtype {dtype!r} is not one of {DTYPES}", "dtype='float32'")
    if base is DEFAULT:
        base = _STATE["base"]
    if base is not None:
        model_dict(base)
    for where, g in (("embed", embed), ("norm", norm), ("head", head)):
        if g is not None and not isinstance(g, Group):
            raise RecipeAPIError(f"{where} must be a group(...)", f"{where}=group('linear', models.aliases)")
    embed = (embed or layers[0]).at(None)
    norm = (norm or layers[-1]).at(None)
    config = config_source or base or layers[0].sources[0].model
    if model_dict(config)["tied_embeddings"]:
        if head is not None:
            raise RecipeAPIError(
                f"model {config!r} ties its output head to the embeddings",
                "leave head out; the merged embeddings serve as the head",
            )
        head_group = None
    else:
        head_group = (head or layers[-1]).at(None)
        for s in head_group.sources:
            if model_dict(s.model)["tied_embeddings"]:
                raise RecipeAPIError(
                    f"head source {s.model!r} has no separate output head (tied embeddings)",
                    "draw the head only from models with their own lm_head",
                )
    groups = [embed, *layers, norm] + ([head_group] if head_group is not None else [])
    used = {base} if base else set()
    for g in groups:
        used.update(s.model for s in g.sources)
        if g.base is not None:
            used.add(g.base.model)
    used.update(x for x in (config_source, tokenizer_source) if x)
    for x in (config_source, tokenizer_source):
        if x is not None:
            model_dict(x)
    order = [a for a in aliases() if a in used]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RecipeAPIError("seed must be an int", "seed=0")
    return Plan(
        {
            "format": "evomerge.plan/1",
            "models": order,
            "base_model": base,
            "dtype": dtype,
            "embed": embed.to_dict(),
            "layers": [g.to_dict() for g in layers],
            "norm": norm.to_dict(),
            "head": head_group.to_dict() if head_group is not None else None,
            "config_source": config_source,
            "tokenizer_source": tokenizer_source,
            "seed": seed,
        }
    )
