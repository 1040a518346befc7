"""Will a worker's device hold the resident sources? Answered before the session starts, from the
safetensors headers, so a device that is too small is a one-line error and not an OOM mid-run.

A resident evaluator (evolution/merge/materialize_memory.py) keeps every source tensor in the run's
dtype, one merged model, and the task vector (expert - base) of every expert once a method needs
it; that sum is what each worker needs. Workers sharing a device (CPU workers on one host, actors
on one GPU) need it once each.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GIB = 1024**3
_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


class DeviceMemoryError(ValueError):
    """A worker's device cannot hold the resident sources (one line, before the session starts)."""


@dataclass(frozen=True)
class ResidentNeed:
    """Bytes one worker keeps resident, by part."""

    sources: int
    model: int
    task_vectors: int
    dtype: str

    @property
    def total(self) -> int:
        return self.sources + self.model + self.task_vectors

    def describe(self) -> str:
        return (
            f"{self.total / GIB:.2f} GiB ({self.dtype}: sources {self.sources / GIB:.2f}, merged model "
            f"{self.model / GIB:.2f}, task vectors {self.task_vectors / GIB:.2f})"
        )


@dataclass(frozen=True)
class DeviceReport:
    """What a worker says about where it runs, before it loads anything."""

    worker: str
    host: str
    device: str
    key: str  # workers with the same key share the memory (same host and device)
    free: int | None  # bytes free on the device now; None: unknown (not checked)


def resident_need(models: Mapping[str, str], base: str | None, dtype: str) -> ResidentNeed:
    """From the headers only: every source tensor, one model's worth, one task vector per expert."""
    from evolution.merge.modelio import open_model

    width = _BYTES.get(dtype, 4)

    def numel(shape: Sequence[int]) -> int:
        n = 1
        for d in shape:
            n *= int(d)
        return n

    index = {a: open_model(ref).index for a, ref in models.items()}
    sizes = {a: {n: numel(t.shape) * width for n, t in idx.items()} for a, idx in index.items()}
    sources = sum(sum(s.values()) for s in sizes.values())
    config_source = base if base is not None else next(iter(models))
    model = sum(sizes[config_source].values())
    vectors = 0
    if base is not None:
        for alias, s in sizes.items():
            if alias != base:
                vectors += sum(v for n, v in s.items() if n in sizes[base])
    return ResidentNeed(sources, model, vectors, dtype)


def device_report(worker: str, device: str) -> DeviceReport:
    """Run inside the worker: its host, device and the memory free there now."""
    host = socket.gethostname()
    if device.startswith("cuda"):
        import torch

        dev = torch.device(device)
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        free, _ = torch.cuda.mem_get_info(index)
        uuid = str(getattr(torch.cuda.get_device_properties(index), "uuid", index))
        return DeviceReport(worker, host, f"cuda:{index}", f"{host}/gpu-{uuid}", int(free))
    return DeviceReport(worker, host, device, f"{host}/cpu", host_available())


def host_available() -> int | None:
    """MemAvailable of this host (what can be allocated without swapping), in bytes."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fit(reports: Sequence[DeviceReport], need: ResidentNeed) -> None:
    """Raise DeviceMemoryError naming the first device whose workers cannot all hold the sources."""
    groups: dict[str, list[DeviceReport]] = {}
    for r in reports:
        groups.setdefault(r.key, []).append(r)
    for group in groups.values():
        free = min((r.free for r in group if r.free is not None), default=None)
        if free is None:
            continue
        wanted = need.total * len(group)
        if wanted > free:
            first = group[0]
            many = f"{len(group)} workers share it, " if len(group) > 1 else ""
            raise DeviceMemoryError(
                f"evaluation worker {first.worker} on {first.device} ({first.host}): {many}each needs "
                f"{need.describe()} but the device has {free / GIB:.2f} GiB free; use fewer evaluators per "
                "device, a device with more memory, or a smaller dtype"
            )
