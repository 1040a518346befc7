"""The tiny model zoo: a base and experts whose merges show the effects merging is known for."""

from __future__ import annotations

from evolution.zoo.build import ZooInfo, build_zoo

__all__ = ["ZooInfo", "build_zoo"]
