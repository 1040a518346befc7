"""Read-only facts about the run's models, as the recipe sees them (never paths or tensors)."""

from __future__ import annotations

from collections.abc import Iterator

from ._state import _STATE, RecipeAPIError, model_dict


class Model:
    """One source model: its alias, role ('base' or 'expert') and shape facts."""

    __slots__ = (
        "alias",
        "role",
        "architecture",
        "num_layers",
        "hidden_size",
        "vocab_size",
        "tied_embeddings",
        "layer_modules",
    )

    def __init__(self, d: dict) -> None:
        self.alias: str = str(d["alias"])
        self.role: str = str(d.get("role", "expert"))
        self.architecture: str = str(d.get("architecture", ""))
        self.num_layers: int = int(d["num_layers"])
        self.hidden_size: int = int(d.get("hidden_size", 0))
        self.vocab_size: int = int(d.get("vocab_size", 0))
        self.tied_embeddings: bool = bool(d.get("tied_embeddings", False))
        self.layer_modules: tuple[str, ...] = tuple(str(x) for x in d.get("layer_modules", ()))

    def __repr__(self) -> str:
        return f"Model({self.alias!r}, role={self.role!r}, num_layers={self.num_layers})"


class Models:
    """The run's models. `models.base`, `models.experts`, `models.num_layers`, `models["alias"]`."""

    __slots__ = ()

    @property
    def aliases(self) -> list[str]:
        """Every alias, base first when there is one."""
        return [m["alias"] for m in _STATE["models"]]

    @property
    def base(self) -> str | None:
        """Alias of the base model (the reference of task vectors), or None."""
        return _STATE["base"]

    @property
    def experts(self) -> list[str]:
        """Aliases of every model that is not the base."""
        return [m["alias"] for m in _STATE["models"] if m["alias"] != _STATE["base"]]

    @property
    def num_layers(self) -> int:
        """The common layer count; an error when the models differ (then use models[alias])."""
        counts = {m["alias"]: int(m["num_layers"]) for m in _STATE["models"]}
        if len(set(counts.values())) > 1:
            raise RecipeAPIError(
                f"the models have different layer counts: {counts}",
                "use models[alias].num_layers for each model, or stack() to build a layer path",
            )
        return next(iter(counts.values()), 0)

    @property
    def layer_modules(self) -> list[str]:
        """Module names inside a layer (e.g. self_attn.q_proj), usable as filters in rules()."""
        seen: list[str] = []
        for m in _STATE["models"]:
            for name in m.get("layer_modules", ()):
                if name not in seen:
                    seen.append(name)
        return seen

    def pick(self, name: str) -> str:
        """An alias from an alias or a role token: "base", "expert0", "expert1", ... (expert
        indices wrap around, so a recipe written with role tokens runs on any model set)."""
        if not isinstance(name, str):
            raise RecipeAPIError(f"pick() takes a string, got {type(name).__name__}", 'pick("expert0")')
        if name in self:
            return name
        if name == "base" and self.base is not None:
            return self.base
        experts = self.experts
        if name.startswith("expert") and name[6:].isdigit() and experts:
            return experts[int(name[6:]) % len(experts)]
        raise RecipeAPIError(
            f"{name!r} is neither a model alias nor a role token",
            f"use one of {self.aliases} or 'base', 'expert0', 'expert1', ...",
        )

    def __getitem__(self, alias: str) -> Model:
        return Model(model_dict(alias))

    def __iter__(self) -> Iterator[Model]:
        return iter([Model(m) for m in _STATE["models"]])

    def __len__(self) -> int:
        return len(_STATE["models"])

    def __contains__(self, alias: object) -> bool:
        return any(m["alias"] == alias for m in _STATE["models"])

    def __repr__(self) -> str:
        return f"Models(base={self.base!r}, experts={self.experts!r})"


models = Models()
