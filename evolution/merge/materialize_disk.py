"""Merge a plan into a Hugging Face folder on disk, streaming tensor by tensor.

Memory holds a few jobs' tensors at once (the next job's inputs being checked, the current
one's being merged, the previous result being written), whatever the model size: inputs are
read-only views of the mapped source files (no copy; ModelFolder.view), whose pages are
released as soon as a job no longer needs them, and shard headers are written up front so
each result goes to disk the moment it exists. The folder is assembled beside OUT_DIR and
renamed into place at the end, so a failure leaves neither a half-written model nor a temp
folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolution.merge.fast_paths import FAST_PATHS, TiesPath, run_chunked, run_fused
from evolution.merge.model_card import model_card
from evolution.merge.modelio import ModelFolder, check_compatible
from evolution.merge.plan import MergePlan, PlanError
from evolution.merge.registry import get_method
from evolution.merge.shard_writer import DEFAULT_SHARD_SIZE, OutTensor, ShardWriter
from evolution.merge.tensor_jobs import (
    TensorJob,
    TensorRef,
    check_finite,
    load_job_inputs,
    output_alias,
    plan_tensor_jobs,
    run_job,
)

if TYPE_CHECKING:
    import torch

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "vocab.txt", "merges.txt", "added_tokens.json", "chat_template.jinja",
                   "chat_template.json")  # fmt: skip


@dataclass(frozen=True)
class MergeResult:
    path: Path
    tensors: int
    bytes_written: int
    seconds: float


def resolve_device(device: str) -> str:
    """'auto' → cuda when present, else cpu; an unavailable cuda is a clear error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PlanError(f"device {device}: CUDA is not available on this machine")
    if device != "cpu" and not device.startswith("cuda"):
        raise PlanError(f"device {device}: expected cpu, cuda, cuda:N or auto")
    return device


def keep_freed_memory() -> None:
    """Let glibc reuse freed tensor memory instead of unmapping it (Linux only; process-wide).

    Every merged or read tensor is a fresh allocation of the same few sizes; by default glibc
    serves large ones with mmap and returns them on free, so each job pays page faults on
    fresh pages. Keeping them in the heap makes a disk merge markedly faster at the same peak
    RSS. Meant for the CLI process; libraries calling merge_to_disk decide for themselves.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 2**62)


def output_config(plan: MergePlan, folders: Mapping[str, ModelFolder], dtype: str) -> dict[str, Any]:
    """The config source's config with layer count, dtype and embedding tying set for the output."""
    config = json.loads(json.dumps(folders[output_alias(plan)].config))
    inner = config["text_config"] if isinstance(config.get("text_config"), dict) else config
    old_layers = None
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        if key in inner:
            old_layers = inner[key]
            inner[key] = plan.num_layers
    layer_types = inner.get("layer_types")
    if isinstance(layer_types, list) and len(layer_types) == old_layers and old_layers != plan.num_layers:
        first_layers = [g.sources[0].layer or 0 for g in plan.layers]
        inner["layer_types"] = [layer_types[min(i, len(layer_types) - 1)] for i in first_layers]
    inner["tie_word_embeddings"] = plan.head is None
    if inner is not config:
        config["tie_word_embeddings"] = plan.head is None
    config["dtype"] = dtype
    config.pop("torch_dtype", None)
    return config


def _copy_side_files(plan: MergePlan, folders: Mapping[str, ModelFolder], dest: Path) -> None:
    cfg_src = folders[output_alias(plan)].path
    tok_alias = plan.tokenizer_source or plan.base_model or output_alias(plan)
    tok_src = folders[tok_alias].path
    for name in TOKENIZER_FILES:
        if (tok_src / name).exists():
            shutil.copyfile(tok_src / name, dest / name)
    if (cfg_src / "generation_config.json").exists():
        shutil.copyfile(cfg_src / "generation_config.json", dest / "generation_config.json")


def _prepare_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise PlanError(f"output {out_dir}: exists and is not a folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise PlanError(f"output folder {out_dir}: not empty (use --force to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename tmp to out_dir; an existing out_dir (force) is moved aside first, then deleted."""
    if out_dir.exists():
        trash = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out_dir, trash)
        os.rename(tmp, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, out_dir)


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("merging"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )


def merge_to_disk(
    plan: MergePlan,
    folders: Mapping[str, ModelFolder],
    out_dir: str | os.PathLike[str],
    *,
    device: str = "cpu",
    dtype: str | None = None,
    out_dtype: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: bool = True,
    force: bool = False,
    extra_files: Mapping[str, str] | None = None,
) -> MergeResult:
    """Materialize `plan` over `folders` (alias → folder) into `out_dir`; atomic on failure.

    `dtype` overrides the plan's: tensors are read and merged in it, and written in it unless
    `out_dtype` is given (mergekit's `out_dtype`: merge in float32, write bfloat16, say).
    `extra_files` (name → text) are written beside the weights, e.g. the mergekit YAML merged.
    """
    import torch

    start = time.perf_counter()
    out_path = Path(out_dir)
    used = {a: folders[a] for a in plan.models if a in folders}
    check_compatible(used, plan.base_model)
    jobs = plan_tensor_jobs(plan, folders)
    dtype_name = dtype or plan.dtype
    write_name = out_dtype or dtype_name
    for name in (dtype_name, write_name):
        if name not in ("float32", "float16", "bfloat16"):
            raise PlanError(f"dtype {name}: expected float32, float16 or bfloat16")
    torch_dtype: torch.dtype = getattr(torch, dtype_name)
    dev = resolve_device(device)
    _prepare_out_dir(out_path, force)
    tmp = out_path.parent / f".{out_path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    from evolution.merge.faults import writing

    with writing("the merged model", out_path, "nothing was left behind; free space and merge again"):
        tmp.mkdir()
        try:
            decl = [OutTensor(j.out_name, write_name, j.shape) for j in jobs]
            writer = ShardWriter(tmp, decl, shard_size)
            _run_jobs(jobs, used, writer, dev, torch_dtype, getattr(torch, write_name), progress)
            writer.close()
            (tmp / "config.json").write_text(
                json.dumps(output_config(plan, used, write_name), indent=2) + "\n"
            )
            _copy_side_files(plan, used, tmp)
            (tmp / "plan.json").write_text(plan.to_json() + "\n")
            (tmp / "README.md").write_text(model_card(plan, {a: str(f.path) for a, f in used.items()}))
            for name, text in (extra_files or {}).items():
                (tmp / Path(name).name).write_text(text)
            _swap_into_place(tmp, out_path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    written = sum(t.nbytes for t in decl)
    return MergeResult(out_path, len(jobs), written, time.perf_counter() - start)


def _checks_output(job: TensorJob, device: str) -> bool:
    """Whether NaN/inf in the job's inputs is caught on its result instead (see _check_result).

    Why: for linear and task arithmetic (sums of inputs times finite numbers) any NaN or inf
    in an input makes the result non-finite, so scanning the result (one tensor) replaces
    scanning every input; only a non-finite result has its inputs checked, to name the one.
    Not when the job reads a base it does not use (linear with a base model).
    """
    if device != "cpu" or job.method not in FAST_PATHS:
        return False
    return job.base is None or job.base in job.sources or get_method(job.method).needs_base


def _load(
    job: TensorJob, folders: Mapping[str, ModelFolder], device: str, dtype: torch.dtype
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """A job's inputs as mapped views, pages mapped in, checked for NaN/inf (or their result)."""
    check = not _checks_output(job, device)
    if not check:
        for ref in job.refs():
            folders[ref.model].prefetch(ref.name)
    return load_job_inputs(job, folders, device, dtype, check=check, copy=False)


def _check_result(out: torch.Tensor, inputs: Mapping[TensorRef, torch.Tensor]) -> None:
    """A non-finite result: raise naming the input with NaN/inf (a mere overflow passes)."""
    import torch

    if bool(torch.isfinite(out.sum())) or bool(torch.isfinite(out).all()):
        return
    for ref, t in inputs.items():
        check_finite(t, ref.model, ref.name)


def _release(job: TensorJob | None, folders: Mapping[str, ModelFolder]) -> None:
    """Give back the mapped pages of a job's inputs (they stay in the page cache)."""
    if job is not None:
        for ref in job.refs():
            folders[ref.model].release(ref.name)


def _merge(
    job: TensorJob,
    tensors: list[torch.Tensor],
    base: torch.Tensor | None,
    device: str,
    dest: torch.Tensor | None = None,
    ties: TiesPath | None = None,
) -> torch.Tensor:
    """One job's result: linear and task arithmetic in one native pass or chunk by chunk,
    TIES through the in-memory fast path (into `dest` when given), the rest through run_job.

    `ties` is this merge's own TiesPath (its cuts are keyed by alias: never share one
    between merges). Its inputs were checked for NaN/inf when loaded.
    """
    import torch

    if ties is not None and job.method == "ties" and device == "cpu" and base is not None:
        out = dest if dest is not None else torch.empty(tensors[0].shape, dtype=tensors[0].dtype)
        if ties(job, tensors, base, [t - base for t in tensors], out):  # deltas as MergeInputs
            return out
    fused = run_fused(job, tensors, base, dest) if device == "cpu" else None
    if fused is not None:
        out, finite = fused
        if not finite and _checks_output(job, device):
            refs = [*job.sources, *([job.base] if job.base is not None else [])]
            _check_result(out, dict(zip(refs, [*tensors, base], strict=False)))
        return out
    out = run_chunked(job, tensors, base, dest)
    if out is None:
        return run_job(job, tensors, base, check=_checks_output(job, device))
    if _checks_output(job, device):
        refs = [*job.sources, *([job.base] if job.base is not None else [])]
        _check_result(out, dict(zip(refs, [*tensors, base], strict=False)))
    return out


def _run_jobs(
    jobs: list[TensorJob],
    folders: Mapping[str, ModelFolder],
    writer: ShardWriter,
    device: str,
    dtype: torch.dtype,
    write_dtype: torch.dtype,
    progress: bool,
) -> None:
    """Read ahead one job while merging the current one straight into the output's staging
    buffer; the writer sends full buffers to disk in the background. Three stages overlap.

    A job's mapped inputs are released (by the reader thread) once its result is in the buffer.
    """
    bar = _progress(len(jobs), progress)
    task = bar.add_task("", total=len(jobs)) if bar is not None else None
    ties = TiesPath(cache_bytes=0)  # each tensor is cut once here: no magnitude orders kept
    with ThreadPoolExecutor(1, thread_name_prefix="read") as reader:
        nxt: Future[Any] | None = reader.submit(_load, jobs[0], folders, device, dtype) if jobs else None
        try:
            if bar is not None:
                bar.start()
            for i, job in enumerate(jobs):
                assert nxt is not None
                tensors, base = nxt.result()
                nxt = reader.submit(_load, jobs[i + 1], folders, device, dtype) if i + 1 < len(jobs) else None
                dest = writer.reserve(job.out_name, write_dtype, job.shape)
                out = _merge(job, tensors, base, device, dest if write_dtype == dtype else None, ties)
                if dest is None:
                    writer.write(job.out_name, out.to(write_dtype))
                else:
                    if out is not dest:
                        dest.copy_(out)
                    writer.commit(job.out_name)
                del tensors, base, out, dest
                reader.submit(_release, job, folders)  # off this thread: madvise costs ~0.1 s/GB
                if bar is not None and task is not None:
                    bar.update(task, advance=1, description=job.out_name)
        except BaseException:
            if nxt is not None and not nxt.cancel():
                nxt.exception()  # wait for it; its own error is secondary
            writer.abort()
            raise
        finally:
            if bar is not None:
                bar.stop()
