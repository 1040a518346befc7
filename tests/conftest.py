"""Shared fixtures: tiny model families built once per test session (read-only for tests)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers_models import build_family, build_gpt2_family  # noqa: E402


@pytest.fixture(scope="session")
def family(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Llama base and two experts (4 layers, untied). Do not modify these folders."""
    return build_family(tmp_path_factory.mktemp("family"))


@pytest.fixture(scope="session")
def tied_family(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Like `family` but with tied embeddings (no lm_head tensor stored)."""
    return build_family(tmp_path_factory.mktemp("tied_family"), tied=True)


@pytest.fixture(scope="session")
def gpt2_family(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A GPT-2 base and one expert (3 layers, tied head, Conv1D weights)."""
    return build_gpt2_family(tmp_path_factory.mktemp("gpt2_family"))


@pytest.fixture(scope="module")
def hf_offline() -> Iterator[None]:
    """Hugging Face offline mode for one module (restored after): nothing may be downloaded.
    A module opts in with `pytestmark = pytest.mark.usefixtures("hf_offline")`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture
def encode_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The texts each real MiniLM encode is asked for from now on in this test (cache misses)."""
    from memory import embeddings

    calls: list[list[str]] = []
    real = embeddings._encode

    def counted(texts: list[str], model: str | None) -> list[list[float]]:
        calls.append(list(texts))
        return real(texts, model)

    monkeypatch.setattr(embeddings, "_encode", counted)
    return calls
