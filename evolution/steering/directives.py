"""Steering directives: what a plain-language steering message asks of the proposer.

Split from `evolution.steering.messages` (file I/O) to keep both modules short. The parser is a small,
forgiving pattern matcher, not an LLM: it understands avoid/prefer a method, favour/exclude a
model (named fuzzily by skill), layer focus, explore more/less and per-model weight hints, and
returns everything else verbatim in `unparsed` so notes can say what was ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

LayerSpec = str | tuple[int, int]  # "first" | "last" | "middle" | "all" | (a, b), inclusive


class WeightHint(NamedTuple):
    """Give `alias` more or less weight over `layers`."""

    alias: str
    layers: LayerSpec
    direction: Literal["more", "less"]


@dataclass
class Directives:
    """What a steering message asks for, in terms the offline proposer can act on."""

    avoid_methods: set[str] = field(default_factory=set)
    prefer_methods: set[str] = field(default_factory=set)
    favour_models: set[str] = field(default_factory=set)
    exclude_models: set[str] = field(default_factory=set)
    layer_focus: tuple[int, int] | None = None
    explore: Literal["more", "less"] | None = None
    weight_hints: list[WeightHint] = field(default_factory=list)
    unparsed: str = ""

    def is_empty(self) -> bool:
        """True when nothing actionable was understood (`unparsed` may still hold text)."""
        return not (
            self.avoid_methods
            or self.prefer_methods
            or self.favour_models
            or self.exclude_models
            or self.layer_focus
            or self.explore
            or self.weight_hints
        )

    def merged(self, later: Directives) -> Directives:
        """These directives updated by a later message: the later one wins where they conflict."""
        keys = {(h.alias, h.layers) for h in later.weight_hints}
        return Directives(
            avoid_methods=(self.avoid_methods - later.prefer_methods) | later.avoid_methods,
            prefer_methods=(self.prefer_methods - later.avoid_methods) | later.prefer_methods,
            favour_models=(self.favour_models - later.exclude_models) | later.favour_models,
            exclude_models=(self.exclude_models - later.favour_models) | later.exclude_models,
            layer_focus=later.layer_focus or self.layer_focus,
            explore=later.explore or self.explore,
            weight_hints=[h for h in self.weight_hints if (h.alias, h.layers) not in keys]
            + later.weight_hints,
            unparsed="; ".join(u for u in (self.unparsed, later.unparsed) if u),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "avoid_methods": sorted(self.avoid_methods),
            "prefer_methods": sorted(self.prefer_methods),
            "favour_models": sorted(self.favour_models),
            "exclude_models": sorted(self.exclude_models),
            "layer_focus": list(self.layer_focus) if self.layer_focus else None,
            "explore": self.explore,
            "weight_hints": [
                [h.alias, list(h.layers) if isinstance(h.layers, tuple) else h.layers, h.direction]
                for h in self.weight_hints
            ],
            "unparsed": self.unparsed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Directives:
        def spec(x: Any) -> LayerSpec:
            return (int(x[0]), int(x[1])) if isinstance(x, (list, tuple)) else str(x)

        lf = d.get("layer_focus")
        return cls(
            avoid_methods=set(d.get("avoid_methods", [])),
            prefer_methods=set(d.get("prefer_methods", [])),
            favour_models=set(d.get("favour_models", [])),
            exclude_models=set(d.get("exclude_models", [])),
            layer_focus=(int(lf[0]), int(lf[1])) if lf else None,
            explore=d.get("explore"),
            weight_hints=[
                WeightHint(a, spec(layers), direction) for a, layers, direction in d.get("weight_hints", [])
            ],
            unparsed=str(d.get("unparsed", "")),
        )

    def describe(self) -> str:
        """One line for prompts, notes and `evomerge steer` output."""
        parts: list[str] = []
        if self.avoid_methods:
            parts.append("avoid " + ", ".join(sorted(self.avoid_methods)))
        if self.prefer_methods:
            parts.append("prefer " + ", ".join(sorted(self.prefer_methods)))
        if self.favour_models:
            parts.append("favour model " + ", ".join(sorted(self.favour_models)))
        if self.exclude_models:
            parts.append("exclude model " + ", ".join(sorted(self.exclude_models)))
        if self.layer_focus:
            parts.append(f"focus on layers {self.layer_focus[0]}-{self.layer_focus[1]}")
        if self.explore:
            parts.append(f"explore {self.explore}")
        for h in self.weight_hints:
            where = (
                f"layers {h.layers[0]}-{h.layers[1]}" if isinstance(h.layers, tuple) else f"{h.layers} layers"
            )
            parts.append(f"{h.direction} weight for {h.alias} in {where}")
        return "; ".join(parts) if parts else "(nothing actionable)"


def layer_range(spec: LayerSpec, num_layers: int) -> tuple[int, int]:
    """Inclusive layer indices: "first"/"last" are the lower/upper half, "middle" the centre third."""
    last = max(num_layers - 1, 0)
    if isinstance(spec, tuple):
        a, b = sorted(spec)
        return max(0, min(a, last)), max(0, min(b, last))
    if spec == "first":
        return 0, max(0, (num_layers - 1) // 2)
    if spec == "last":
        return num_layers // 2, last
    if spec == "middle":
        third = num_layers // 3
        return third, max(third, last - third)
    return 0, last


METHOD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "task arithmetic": ("task_arithmetic",), "task vectors": ("task_arithmetic",),
    "model soup": ("linear",), "soup": ("linear",), "averaging": ("linear",), "average": ("linear",),
    "spherical": ("slerp",), "dare": ("dare_ties", "dare_linear"), "breadcrumb": ("breadcrumbs",),
    "model stock": ("model_stock",), "layer stacking": ("passthrough",), "frankenmerge": ("passthrough",),
    "layer swapping": ("layer_swap",), "layer swap": ("layer_swap",), "dfs": ("passthrough",),
}  # fmt: skip
# Words that name the same skill; a model or task whose name contains one is that skill's expert.
CONCEPTS: tuple[frozenset[str], ...] = tuple(frozenset(g.split()) for g in (
    "add addition adding adder arith arithmetic math maths sum sums plus calc calculation numbers numeric",
    "sub subtract subtraction minus", "mul mult multiply multiplication times product",
    "rev reverse reversal reversing reversed backwards backward", "copy copying repeat echo duplicate",
    "sort sorting sorted order ordering", "upper uppercase capital capitals capitalize caps case",
    "count counting", "code coding program programming python", "chat instruct dialog assistant",
    "lang language translate translation", "fact facts knowledge trivia qa",
    "base foundation pretrained original",
))  # fmt: skip
_GENERIC = {
    "expert",
    "experts",
    "model",
    "models",
    "ft",
    "sft",
    "tuned",
    "finetuned",
    "merged",
    "the",
    "of",
    "based",
}
# "add" and "sum" as verbs ("add more weight", "sum up") must not name the arithmetic expert
_VERB_USE = re.compile(
    r"\badd\s+(?=more\b|some\b|extra\b|weight\b|a\b|an\b|the\b)|\b(?:to\s+)?sum\s+up\b|\bin\s+sum\b"
)

_WEIGHT_NOUN = r"(?:weight|weights|say|influence|share|emphasis|importance|contribution|strength)"
_MORE = re.compile(
    rf"\b(?:more|higher|larger|bigger|extra|increase\w*|boost\w*|raise|up-?weight\w*|"
    rf"strengthen)\b.*?\b{_WEIGHT_NOUN}\b|\bdominat\w*|\bupweight\w*|\bweight\w*\b.*?\b(?:higher|more|up)\b"
    r"|\b(?:add|bring|put)\b.*?\b(?:in|to|into)\b(?:\s+the)?(?:\s+\w+)?\s+layers?\b"
)
_LESS = re.compile(
    rf"\b(?:less|lower|smaller|reduce\w*|decrease\w*|down-?weight\w*|weaken|shrink)\b.*?"
    rf"\b{_WEIGHT_NOUN}\b|\bdownweight\w*|\bweight\w*\b.*?\b(?:lower|less|down)\b"
)
_EXPLORE_MORE = re.compile(
    r"explore more|more explor\w*|more divers\w*|diversif\w*|\b(?:bold|bolder|"
    r"adventurous|creative|wild)\b|try (?:more )?(?:new|different)|more random"
)
_EXPLORE_LESS = re.compile(
    r"explore less|less explor\w*|exploit\w*|focus on the best|\brefine\b|converge|"
    r"conservative|play it safe|small(?:er)? (?:steps|changes)|less random"
)
_AVOID = re.compile(
    r"\b(?:avoid\w*|don'?t|do not|never|no|stop\w*|without|skip|ban|forbid|drop|exclude|"
    r"remove|ignore|leave out|not|less|bad|useless|harmful|hurts?|worse|terrible|poor)\b|\bkeep\b.*\bout\b"
)
_PREFER = re.compile(
    r"\b(?:prefer\w*|use|using|try|favou?r\w*|more|focus\w*|stick|go with|lean|emphasi[sz]e|"
    r"keep|rely|trust|include|switch to|go for|apply|merge with|merge using)\b"
)
_FOCUS = re.compile(r"\b(?:focus\w*|only|concentrate|restrict|limit|touch|work on|change|mutate|edit)\b")
_RANGE = re.compile(r"\blayers?\s+(\d+)\s*(?:-|to|through|thru|\.\.)\s*(\d+)")
_ONE = re.compile(r"\blayer\s+(\d+)\b")
_SIDE = re.compile(
    r"\b(last|later|final|top|deep|deeper|upper|late|latter|output|first|early|earlier|bottom|"
    r"lower|initial|shallow|input|middle|mid|central)\b(?:\s+(\d+))?(?:\s+\w+)?\s+layers?\b"
)
_SPLIT = re.compile(r"[;\n!?]+|\.(?!\d)|,|\b(?:and|but|then|also|plus)\b", re.IGNORECASE)
_FILLER = re.compile(r"\b(?:please|thanks|thank you|ok|okay|now|hey|just|in summary|overall)\b")


def _norm(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"-(based|style|like|only)\b", r" \1", text)  # "ties-based" names ties


def _method_vocab(methods: Any) -> dict[str, tuple[str, ...]]:
    """Phrase → canonical method names among `methods` (names, or a registry mapping; None: the registry)."""
    if methods is None:
        from evolution.merge.registry import all_methods

        methods = all_methods()
    names = set(methods)
    aliases = {
        a: n for n, spec in getattr(methods, "items", lambda: [])() for a in getattr(spec, "aliases", ())
    }
    vocab: dict[str, tuple[str, ...]] = {}
    for n in names:
        for form in {n, n.replace("_", " "), n.replace("_", "-")}:
            vocab[form] = (n,)
    for a, n in aliases.items():
        vocab.setdefault(a.lower(), (n,))
    for phrase, targets in METHOD_SYNONYMS.items():
        kept = tuple(t for t in targets if t in names)
        if kept:
            vocab.setdefault(phrase, kept)
    return vocab


def _find_methods(frag: str, vocab: dict[str, tuple[str, ...]]) -> set[str]:
    found: set[str] = set()
    for phrase in sorted(vocab, key=len, reverse=True):  # longest first: dare_ties before ties
        pat = re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])")
        if pat.search(frag):
            found.update(vocab[phrase])
            frag = pat.sub(" ", frag)
    return found


def _concepts(word: str) -> set[int]:
    return {
        i for i, g in enumerate(CONCEPTS) if word in g or any(len(k) >= 4 and word.startswith(k) for k in g)
    }


def _model_index(aliases: Any, tasks: Any) -> dict[str, tuple[set[str], set[int]]]:
    """alias → (its name tokens, the skill concepts it stands for via its name, path or linked task)."""
    items = aliases.items() if hasattr(aliases, "items") else [(a, "") for a in aliases]
    task_words = [set(re.findall(r"[a-z]+", _norm(t))) - _GENERIC for t in (tasks or [])]
    index: dict[str, tuple[set[str], set[int]]] = {}
    for alias, desc in items:
        toks = set(re.findall(r"[a-z]+", _norm(alias))) - _GENERIC
        desc_toks = set(re.findall(r"[a-z]+", _norm(Path(str(desc)).name))) - _GENERIC if desc else set()
        concepts = set().union(*(_concepts(w) for w in toks | desc_toks))
        for tw in task_words:  # a task sharing a word or skill with the model links its words too
            tc = set().union(*(_concepts(w) for w in tw)) if tw else set()
            if tw & (toks | desc_toks) or tc & concepts:
                concepts |= tc
                toks |= {w for w in tw if len(w) >= 3}
        index[str(alias)] = ({t for t in toks if len(t) >= 3 or t == str(alias).lower()}, concepts)
    return index


def _find_models(frag: str, index: dict[str, tuple[set[str], set[int]]]) -> set[str]:
    words = set(re.findall(r"[a-z0-9_]+", frag))
    found = {a for a in index if a.lower() in words or re.search(rf"\b{re.escape(a.lower())}\b", frag)}
    concepts = set().union(*(_concepts(w) for w in words - _GENERIC)) if words else set()
    for alias, (toks, acs) in index.items():
        if words & toks or concepts & acs:
            found.add(alias)
    return found


def _layer_spec(frag: str, num_layers: int | None) -> LayerSpec | None:
    if m := _RANGE.search(frag):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        return (a, b)
    if m := _ONE.search(frag):
        return (int(m.group(1)), int(m.group(1)))
    if m := _SIDE.search(frag):
        word, count = m.group(1), m.group(2)
        side = "middle" if word in ("middle", "mid", "central") else (
            "first" if word in ("first", "early", "earlier", "bottom", "lower", "initial", "shallow", "input")
            else "last")  # fmt: skip
        if count and num_layers and side in ("first", "last"):
            n = min(int(count), num_layers)
            return (0, n - 1) if side == "first" else (num_layers - n, num_layers - 1)
        return side
    return None


def parse_directives(
    text: str, aliases: Any, tasks: Any, methods: Any = None, num_layers: int | None = None
) -> Directives:
    """Understand the simple directives in a steering message; keep the rest in `unparsed`.

    `aliases` are the run's model aliases (or alias → folder), `tasks` its task names; a model may
    be named fuzzily ("the arithmetic expert" → the alias whose name, folder or task says
    add/arith/math/sum). `methods` limits method names (default: the registry's);
    `num_layers` lets "focus on the last layers" become a range.
    """
    d = Directives()
    vocab = _method_vocab(methods)
    index = _model_index(aliases, tasks)
    unparsed: list[str] = []
    intent: str | None = None
    protected = re.sub(r"(\d+)\s+and\s+(\d+)", r"\1-\2", text)  # "layers 3 and 5" is a range
    # "prefer ties over linear", "X instead of Y", "X rather than Y": the second one is avoided
    protected = re.sub(r"\b(?:instead of|rather than)\b", "; avoid ", protected, flags=re.IGNORECASE)
    for phrase in vocab:
        protected = re.sub(
            rf"\bover\s+(?=(?:the\s+)?{re.escape(phrase)}(?![\w-]))", "; avoid ", protected, flags=re.I
        )
    for raw in _SPLIT.split(protected):
        raw = (raw or "").strip(" \t-:")
        frag = _norm(raw)
        if not re.search(r"[a-z0-9]", _FILLER.sub(" ", frag)):
            continue
        understood = False
        if _EXPLORE_MORE.search(frag) or _EXPLORE_LESS.search(frag):
            d.explore = "less" if _EXPLORE_LESS.search(frag) else "more"
            understood = True
        found_methods = _find_methods(frag, vocab)
        models_frag = _VERB_USE.sub(" ", frag)
        for phrase in vocab:  # a method name must not also read as a model name
            models_frag = re.sub(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", " ", models_frag)
        found_models = _find_models(models_frag, index)
        spec = _layer_spec(frag, num_layers)
        direction = "less" if _LESS.search(frag) else "more" if _MORE.search(frag) else None
        own = "avoid" if _AVOID.search(frag) else "prefer" if _PREFER.search(frag) else None
        if (
            direction is None
            and found_models
            and re.search(r"\bless\b", frag)
            and not re.search(r"\b(?:avoid|exclude|drop|remove|no|never|without)\b", frag)
        ):
            direction = "less"  # "less reverse": weigh it down, do not drop it
        if direction and found_models:
            for alias in sorted(found_models):
                d.weight_hints.append(WeightHint(alias, spec or "all", direction))  # type: ignore[arg-type]
            understood = True
        else:
            act = own or intent
            if found_methods and act:
                (d.avoid_methods if act == "avoid" else d.prefer_methods).update(found_methods)
                understood = True
            if found_models and act:
                (d.exclude_models if act == "avoid" else d.favour_models).update(found_models)
                understood = True
            if spec is not None and not found_models and not found_methods and (_FOCUS.search(frag) or own):
                if isinstance(spec, tuple):
                    d.layer_focus = spec
                    understood = True
                elif num_layers:
                    d.layer_focus = layer_range(spec, num_layers)
                    understood = True
        if own:
            intent = own
        if not understood:
            unparsed.append(raw)
    d.unparsed = "; ".join(unparsed)
    return d
