"""In-memory materialization: merged weights written into a model that stays resident.

Why: the evolution loop scores hundreds of candidates over the same source models. Reading
the sources from disk and building a model per candidate would dominate; here every source
tensor is read once onto the device, task vectors (source - base) are computed once, and
`materialize(plan)` writes each merged tensor straight into the resident model's parameter.
The tensor math is `tensor_plan.run_job`, the same as the disk materializer, so a candidate
scored in memory has exactly the weights `evomerge merge` would write. Linear, task
arithmetic and TIES jobs take fast paths (evolution/merge/fast_paths.py, evolution/merge/fast_ties.py)
with the same operations (equal results): each costs about one read of each source and one
write of the result (TIES on CPU through a fused kernel, evolution/merge/native.py).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolution.merge.arch import split_name
from evolution.merge.device_cache import DeviceCache
from evolution.merge.fast_paths import FAST_PATHS, FastPath, TiesPath
from evolution.merge.modelio import ModelFolder, check_compatible
from evolution.merge.plan import MergePlan, PlanError
from evolution.merge.registry import get_method
from evolution.merge.tensor_jobs import TensorJob, TensorRef, check_finite, plan_tensor_jobs, run_job

if TYPE_CHECKING:
    import torch
    from torch import nn


def resolve_device(device: str) -> torch.device:
    """'auto' is CUDA when present, else CPU; anything else is taken as given."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class ResidentMerger:
    """Sources, task vectors and one HF model kept on a device; `materialize` fills the model.

    Source tensors are loaded on first use and kept (`preload=True` loads them all now, so
    every candidate costs the same). Task vectors are cached per (source, base) pair the
    first time a plan's method needs them. TIES keeps each task vector's magnitude order
    (int32 per element) once densities vary, so new densities cost no sort; at most
    `ties_cache_bytes` of them (None: half the memory free on the device when the first is
    built, or env EVOMERGE_TIES_CACHE_BYTES; 0 disables), past which cuts are recomputed.

    `device_budget_bytes` bounds the source tensors and task vectors kept (a pool of experts:
    evolution/merge/device_cache.py): nothing is preloaded, a plan loads only the tensors it
    reads, the least recently used are evicted for them, and what does not fit is read for
    the one merge and dropped. The TIES orders then default to a quarter of the budget. The
    merged model itself is extra (one model's size).
    """

    def __init__(
        self,
        folders: Mapping[str, ModelFolder],
        base: str | None,
        *,
        device: str = "auto",
        dtype: str = "float32",
        config_source: str | None = None,
        preload: bool = True,
        cache_task_vectors: bool = True,
        ties_cache_bytes: int | None = None,
        device_budget_bytes: int | None = None,
    ) -> None:
        import torch

        if base is not None and base not in folders:
            raise PlanError(f"base model {base!r} is not among the models ({', '.join(folders)})")
        check_compatible(folders, base)
        self.folders = dict(folders)
        self.base = base
        self.device = resolve_device(device)
        self.dtype: torch.dtype = getattr(torch, dtype)
        self.config_source = config_source or base or next(iter(folders))
        self.cache_task_vectors = cache_task_vectors
        self.device_budget_bytes = device_budget_bytes
        self._cache = DeviceCache(device_budget_bytes, on_evict=self._evicted)
        self.reads: Counter[str] = Counter()  # source tensors read from disk, per model
        self.last_timings: dict[str, float] = {}
        if ties_cache_bytes is None and device_budget_bytes is not None:
            ties_cache_bytes = device_budget_bytes // 4
        self._ties = TiesPath(ties_cache_bytes)
        self.fast_paths: dict[str, FastPath] = {**FAST_PATHS, "ties": self._ties}
        t0 = time.perf_counter()
        self.model = self._build_model()
        self._layers_path, self._layer_pool = self._find_layers()
        self._base_layer_types = list(getattr(self.model.config, "layer_types", None) or [])
        self._params_by_count: dict[int, dict[str, torch.Tensor]] = {}
        self._head_weight: Any = None  # the head's own weight while tied (reused when untied)
        self._tokenizer: Any = None
        t1 = time.perf_counter()
        if preload and device_budget_bytes is None:
            for alias, folder in self.folders.items():
                for name in folder.tensor_names():
                    self._source(TensorRef(alias, name))
        self.setup_timings = {"build_model_s": t1 - t0, "load_sources_s": time.perf_counter() - t1}

    @classmethod
    def from_paths(cls, models: Mapping[str, str | Path], base: str | None, **kwargs: Any) -> ResidentMerger:
        """Convenience: aliases → local folders."""
        return cls({alias: ModelFolder(path) for alias, path in models.items()}, base, **kwargs)

    # ------------------------------------------------------------------ setup

    def _build_model(self) -> nn.Module:
        """The HF model from the config source, allocated on the device, without weight init."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        folder = self.folders[self.config_source]
        config = AutoConfig.from_pretrained(folder.path)
        from transformers.initialization import no_init_weights

        with torch.device(self.device), no_init_weights():
            model = AutoModelForCausalLM.from_config(config, dtype=self.dtype)
        model.eval()
        model.requires_grad_(False)
        gen = folder.path / "generation_config.json"
        if gen.exists():
            from transformers import GenerationConfig

            model.generation_config = GenerationConfig.from_pretrained(folder.path)
        return model

    def _find_layers(self) -> tuple[str, list[nn.Module]]:
        """The decoder's layer ModuleList (its dotted path) and its modules, found by name."""
        from torch import nn

        for name, _ in self.model.named_parameters():
            try:
                key = split_name(name)
            except PlanError:
                continue
            if key.kind == "layer":
                path = key.prefix.rstrip(".")
                layers = self.model.get_submodule(path)
                if isinstance(layers, nn.ModuleList):
                    return path, list(layers)
        raise PlanError(f"{type(self.model).__name__}: no decoder layer list found")

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the config source (loaded once, on first use)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.folders[self.config_source].path)
        return self._tokenizer

    def _source(self, ref: TensorRef) -> torch.Tensor:
        t = self._cache.get(("src", ref))
        if t is None:
            folder = self.folders.get(ref.model)
            if folder is None:
                raise PlanError(f"plan uses model {ref.model!r}, not loaded here ({', '.join(self.folders)})")
            t = folder.read(ref.name, device=str(self.device), dtype=self.dtype)
            self.reads[ref.model] += 1
            check_finite(t, ref.model, ref.name)  # once here, so run_job need not check again
            self._cache.put(("src", ref), t)
        return t

    def _evicted(self, key: Hashable) -> None:
        """An evicted task vector takes its TIES magnitude order and cuts with it."""
        if isinstance(key, tuple) and key[0] == "tv":
            self._ties.forget((key[1], key[2]))

    def resident_models(self) -> list[str]:
        """Aliases with at least one source tensor on the device now."""
        return sorted({key[1].model for key in self._cache.keys() if key[0] == "src"})  # type: ignore[index]

    @property
    def resident_bytes(self) -> int:
        """Bytes of source tensors and task vectors kept on the device."""
        return self._cache.bytes

    @property
    def evictions(self) -> int:
        """Tensors evicted so far to stay within the device budget."""
        return self._cache.evictions

    def source_tensor(self, model: str, name: str) -> torch.Tensor:
        """The resident copy of one source tensor (read-only by convention)."""
        return self._source(TensorRef(model, name))

    def _task_vector(self, ref: TensorRef, base: TensorRef) -> torch.Tensor:
        key = ("tv", ref, base)
        tv = self._cache.get(key)
        if tv is None:
            tv = self._source(ref) - self._source(base)
            if self.cache_task_vectors:
                self._cache.put(key, tv)
        return tv

    def _pin(self, jobs: list[TensorJob]) -> None:
        """Keep this plan's tensors from evicting each other while it merges."""
        keys: list[Hashable] = []
        for job in jobs:
            keys += [("src", r) for r in job.refs()]
            if job.base is not None and get_method(job.method).needs_base:
                keys += [("tv", r, job.base) for r in job.sources]
        self._cache.pin(keys)

    # ------------------------------------------------------------------ layers

    def _set_num_layers(self, n: int, source_layers: list[int | None]) -> None:
        """Resize the decoder stack to n layers, reusing modules; fix config and layer_idx.

        Layer types (sliding or full attention) follow materialize_disk.output_config: kept
        when the depth is the base's, else each output layer takes its first source's type.
        """
        from torch import nn

        while len(self._layer_pool) < n:
            self._layer_pool.append(copy.deepcopy(self._layer_pool[0]))
        current = self.model.get_submodule(self._layers_path)
        if len(current) != n:
            parent_path, _, attr = self._layers_path.rpartition(".")
            parent = self.model.get_submodule(parent_path) if parent_path else self.model
            setattr(parent, attr, nn.ModuleList(self._layer_pool[:n]))
        cfg = self.model.config
        text_cfg = cfg.get_text_config(decoder=True) if hasattr(cfg, "get_text_config") else cfg
        text_cfg.num_hidden_layers = n
        types = self._base_layer_types
        if types:
            if n != len(types):
                types = [types[min(src or 0, len(types) - 1)] for src in source_layers]
            text_cfg.layer_types = list(types)
        for i, layer in enumerate(self._layer_pool[:n]):
            for mod in layer.modules():
                if hasattr(mod, "layer_idx"):
                    mod.layer_idx = i
                if types and hasattr(mod, "layer_type"):
                    mod.layer_type = types[i]
                    if hasattr(mod, "sliding_window"):
                        sliding = types[i] == "sliding_attention"
                        mod.sliding_window = getattr(text_cfg, "sliding_window", None) if sliding else None

    def _params(self, n_layers: int) -> dict[str, torch.Tensor]:
        """Output tensor name → resident parameter, for a stack of n_layers."""
        params = self._params_by_count.get(n_layers)
        if params is None:
            params = {name: p for name, p in self.model.named_parameters(remove_duplicate=False)}
            self._params_by_count[n_layers] = params
        return params

    def _set_tied(self, tied: bool) -> None:
        """Tie the head to the embeddings (plans without a head) or give it its own weight."""
        import torch

        get_in, get_out = self.model.get_input_embeddings(), self.model.get_output_embeddings()
        if get_out is None:
            return
        is_tied = get_out.weight is get_in.weight
        if tied and not is_tied:
            self._head_weight = get_out.weight
            get_out.weight = get_in.weight
        elif not tied and is_tied:
            own = self._head_weight
            if own is None:
                own = torch.nn.Parameter(torch.empty_like(get_in.weight), requires_grad=False)
            get_out.weight = own
            self._head_weight = None
        if is_tied != tied:
            self.model.config.tie_word_embeddings = tied
            self._params_by_count.clear()

    # ------------------------------------------------------------------ merge

    def materialize(self, plan: MergePlan) -> nn.Module:
        """Write the plan's merged weights into the resident model and return it (eval mode)."""
        import torch

        t0 = time.perf_counter()
        jobs = plan_tensor_jobs(plan, self.folders)
        t1 = time.perf_counter()
        self._set_num_layers(plan.num_layers, [g.sources[0].layer for g in plan.layers])
        self._set_tied(plan.head is None)  # as materialize_disk.output_config: no head group = tied
        params = self._params(plan.num_layers)
        t2 = time.perf_counter()
        out_dtype = getattr(torch, plan.dtype)
        tv_s = 0.0
        written: set[str] = set()
        self._pin(jobs)
        try:
            with torch.no_grad():
                for job in jobs:
                    dest = params.get(job.out_name)
                    if dest is None:
                        raise PlanError(
                            f"{job.out_name}: the resident {type(self.model).__name__} has no such parameter"
                        )
                    tv_s += self._run_into(job, dest, out_dtype)
                    written.add(job.out_name)
        finally:
            self._cache.unpin_all()
        missing = [n for n in params if n not in written and not self._is_tied_head(n)]
        if missing:
            raise PlanError(f"plan leaves {len(missing)} parameters unset, e.g. {missing[0]}")
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t3 = time.perf_counter()
        self.last_timings = {
            "plan_s": t1 - t0,
            "resize_s": t2 - t1,
            "task_vectors_s": tv_s,
            "merge_s": t3 - t2,
            "total_s": t3 - t0,
        }
        return self.model

    def _is_tied_head(self, name: str) -> bool:
        out = self.model.get_output_embeddings()
        return (
            out is not None
            and out.weight is self.model.get_input_embeddings().weight
            and name.endswith("lm_head.weight")
        )

    def _run_into(self, job: TensorJob, dest: torch.Tensor, out_dtype: torch.dtype) -> float:
        """Merge one job into `dest`; returns seconds spent building task vectors."""
        tensors = [self._source(r) for r in job.sources]
        base = self._source(job.base) if job.base is not None else None
        if tuple(tensors[0].shape) != tuple(dest.shape):
            shapes = f"{tuple(tensors[0].shape)} but the model has {tuple(dest.shape)}"
            raise PlanError(f"{job.out_name}: merged shape {shapes}")
        spec = get_method(job.method)
        tv_s = 0.0
        task_vectors = None
        if job.base is not None and spec.needs_base:
            t = time.perf_counter()
            task_vectors = [self._task_vector(r, job.base) for r in job.sources]
            tv_s = time.perf_counter() - t
        fast = self.fast_paths.get(spec.name)
        if fast is not None and out_dtype == dest.dtype and fast(job, tensors, base, task_vectors, dest):
            return tv_s
        result = run_job(job, tensors, base, task_vectors=task_vectors, check=False)
        if out_dtype != dest.dtype:
            result = result.to(out_dtype)
        dest.copy_(result)
        return tv_s
