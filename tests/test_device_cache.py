"""On-demand sources under a device budget: a plan over a few experts of a pool loads only those,
the least recently used are evicted within the budget, and merges equal unbounded ones."""

from __future__ import annotations

import torch
from zoo_fixture import small_pool  # noqa: F401

from evolution.merge.device_cache import DeviceCache
from evolution.merge.materialize_memory import ResidentMerger
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import Group, MergePlan, Source


def t(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=torch.float32)  # 4n bytes


def test_lru_eviction_pins_and_what_cannot_fit() -> None:
    evicted: list[str] = []
    c = DeviceCache(budget=400, on_evict=evicted.append)
    assert c.put("a", t(40)) and c.put("b", t(40)) and c.put("c", t(20))  # 160 + 160 + 80
    assert c.get("a") is not None  # a is now the most recently used
    assert c.put("d", t(40))  # 560 > 400: evicts b (least recently used), not a
    assert evicted == ["b"] and c.keys() == ["c", "a", "d"] and c.bytes == 400
    c.pin(["c", "a"])
    assert not c.put("e", t(60))  # 240 bytes fit only by evicting pinned ones: not kept
    assert evicted == ["b"] and "e" not in c and c.bytes == 400
    assert c.put("f", t(30))  # 120: d (unpinned) goes
    assert evicted == ["b", "d"] and c.keys() == ["c", "a", "f"] and c.bytes <= 400
    c.unpin_all()
    assert c.put("g", t(100)) and c.keys() == ["g"] and c.bytes == 400
    unbounded = DeviceCache()
    for i in range(50):
        assert unbounded.put(i, t(1000))
    assert len(unbounded) == 50


def _plan(experts: list[str], n_layers: int) -> MergePlan:
    def g(layer: int | None) -> Group:
        return Group(
            method="task_arithmetic",
            sources=[Source(model=e, layer=layer, params={"weight": 0.7}) for e in experts],
            base=Source(model="base", layer=layer),
        )

    return MergePlan(
        models=["base", *experts],
        base_model="base",
        embed=g(None),
        layers=[g(i) for i in range(n_layers)],
        norm=g(None),
        head=g(None),
    )


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_a_pool_session_loads_what_plans_use_within_the_budget(small_pool) -> None:  # noqa: F811
    models = {a: str(p) for a, p in small_pool.models.items()}
    assert len(models) == 9
    folder = ModelFolder(models["base"])
    size = sum(torch.Size(folder.shape(n)).numel() * 4 for n in folder.tensor_names())  # float32
    n = folder.num_layers()
    # base + three experts with their task vectors: 7 model sizes
    merger = ResidentMerger.from_paths(models, "base", device="cpu", device_budget_bytes=7 * size)
    full = ResidentMerger.from_paths(models, "base", device="cpu")
    assert merger.resident_bytes == 0 and sum(full.reads.values()) > 0

    def check(experts: list[str]) -> None:
        plan = _plan(experts, n)
        got = _weights(merger.materialize(plan))
        want = _weights(full.materialize(plan))
        assert all(torch.equal(got[k], want[k]) for k in want)
        assert merger.resident_bytes <= 7 * size

    check(["add", "sub"])
    assert set(merger.reads) == {"base", "add", "sub"}  # the six other experts were never read
    assert merger.resident_models() == ["add", "base", "sub"]
    check(["rev"])
    assert merger.resident_models() == ["add", "base", "rev", "sub"]
    check(["add", "sub"])  # touched again: rev is now the least recently used
    check(["srt"])
    assert merger.resident_models() == ["add", "base", "srt", "sub"]  # rev went, add and sub stayed
    before = dict(merger.reads)
    check(["add", "sub"])
    assert merger.reads == before  # still resident: nothing read again
    check(["rev"])
    assert merger.reads["rev"] == 2 * before["rev"]  # evicted, so read again
    # a plan over every expert does not fit: it still merges exactly, within the budget
    check(list(small_pool.models)[1:])
    assert merger.resident_bytes <= 7 * size
