"""Tensors kept on the device under a byte budget, least recently used evicted first.

Why: a session over a pool of experts must not hold every expert on the device when a plan uses
a few. The in-memory materializer keeps source tensors and task vectors here; a plan's own
tensors are pinned while it merges (never evicted for each other), and a tensor that does not
fit even after every unpinned one is gone is simply not kept: the caller uses it once and drops
it (slower, never wrong). With no budget everything is kept, as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class DeviceCache:
    """key → tensor, LRU under `budget` bytes (None: unbounded); `on_evict(key)` after an eviction."""

    def __init__(self, budget: int | None = None, on_evict: Callable[[Hashable], None] | None = None) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"DeviceCache: budget must be >= 0 bytes, got {budget}")
        self.budget = budget
        self.on_evict = on_evict
        self._items: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._pinned: set[Hashable] = set()
        self.bytes = 0
        self.evictions = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[Hashable]:
        """Least recently used first."""
        return list(self._items)

    def get(self, key: Hashable) -> torch.Tensor | None:
        """The tensor (now the most recently used) or None."""
        t = self._items.get(key)
        if t is not None:
            self._items.move_to_end(key)
        return t

    def put(self, key: Hashable, tensor: torch.Tensor) -> bool:
        """Keep `tensor`, evicting unpinned tensors least recently used first; False when it
        cannot fit (then nothing was evicted for it)."""
        need = tensor.numel() * tensor.element_size()
        if key in self._items:
            self._drop(key)
        if self.budget is not None:
            if need > self.budget - self.bytes + self._evictable_bytes():
                return False
            for old in list(self._items):
                if self.bytes + need <= self.budget:
                    break
                if old not in self._pinned:
                    self._drop(old)
                    self.evictions += 1
                    if self.on_evict is not None:
                        self.on_evict(old)
        self._items[key] = tensor
        self.bytes += need
        return True

    def _evictable_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for k, t in self._items.items() if k not in self._pinned)

    def _drop(self, key: Hashable) -> None:
        t = self._items.pop(key)
        self.bytes -= t.numel() * t.element_size()

    def pin(self, keys: Iterable[Hashable]) -> None:
        """Protect these keys (present or future) from eviction until `unpin_all`."""
        self._pinned.update(keys)

    def unpin_all(self) -> None:
        self._pinned.clear()

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0
