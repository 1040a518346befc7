"""One vocabulary per run for reading steering: the model aliases with their folders, the task
names, the merge methods and the depth.

The offline proposer, the steering gate, memory's lessons and `evomerge steer` all parse
messages through this, so the CLI never promises that the proposer "will follow" text the
proposer reads differently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolution.steering.directives import Directives, parse_directives


def registry_methods() -> dict[str, Any]:
    """The method registry (name -> spec, with aliases): the only list of method names."""
    from evolution.merge.registry import all_methods

    return dict(all_methods())


@dataclass(frozen=True)
class Vocabulary:
    """What steering text is parsed against. `aliases` maps alias -> model ref (folder names help
    "the arithmetic expert" find `expert_add`); `methods` None means the registry's methods."""

    aliases: dict[str, str]
    tasks: tuple[str, ...] = ()
    num_layers: int | None = None
    methods: tuple[str, ...] | None = None

    def parse(self, text: str) -> Directives:
        methods = list(self.methods) if self.methods is not None else registry_methods()
        return parse_directives(text, self.aliases, list(self.tasks), methods, self.num_layers)

    def combined(self, texts: list[str]) -> Directives:
        """The directives of several messages; a later message overrides an earlier one."""
        out = Directives()
        for t in texts:
            out = out.merged(self.parse(t))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "aliases": dict(self.aliases),
            "tasks": list(self.tasks),
            "num_layers": self.num_layers,
            "methods": list(self.methods) if self.methods is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        methods = d.get("methods")
        return cls(
            aliases={str(k): str(v) for k, v in (d.get("aliases") or {}).items()},
            tasks=tuple(str(t) for t in d.get("tasks") or ()),
            num_layers=int(d["num_layers"]) if d.get("num_layers") else None,
            methods=tuple(methods) if methods is not None else None,
        )

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Vocabulary:
        """Read cheaply from RUN/config.yaml, its task suite and the base model's config.json;
        whatever cannot be read stays empty, so steering never fails for lack of it."""
        import yaml

        aliases: dict[str, str] = {}
        tasks: list[str] = []
        num_layers: int | None = None
        try:
            cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            return cls(aliases)
        if isinstance(cfg.get("models"), dict):
            aliases = {str(k): str(v) for k, v in cfg["models"].items()}
        try:
            suite = yaml.safe_load(Path(str(cfg.get("tasks", ""))).read_text()) or {}
            tasks = [str(t["name"]) for t in suite.get("tasks", []) if isinstance(t, dict) and "name" in t]
        except (OSError, yaml.YAMLError, AttributeError, TypeError):
            pass
        for ref in [aliases.get(str(cfg.get("base")))] + list(aliases.values()):
            try:
                model_cfg = json.loads((Path(str(ref)) / "config.json").read_text())
            except (OSError, json.JSONDecodeError, TypeError):
                continue
            n = model_cfg.get("num_hidden_layers") or model_cfg.get("n_layer")
            if isinstance(n, int):
                num_layers = n
                break
        return cls(aliases, tuple(tasks), num_layers)
