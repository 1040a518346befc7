"""The LLM path, measured: a session whose only proposer is an OpenAI-compatible server on 127.0.0.1
that answers like an imperfect coding model (tests/imperfect_model.py), on a zoo.

Prints the prompt and completion tokens per LLM call and per candidate (mean, max), the share of
proposal replies that became evaluated candidates, what happened to the others, and the budget
split: seeds, proposals, numeric points (and how many of those polished an LLM-written structure).
Prompt tokens are counted here, with the same tokenizer (cl100k via litellm) on the messages the
server received, so figures compare across evomerge versions.

    python bench/llm_path.py --zoo zoo --evaluations 60
    python bench/llm_path.py --zoo zoo --formats recipe   # well-formed replies only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fake_llm_server import FakeLLMServer  # noqa: E402
from imperfect_model import FORMATS, GOOD, ImperfectCoder  # noqa: E402

MODEL = "openai/fake-coder"


def run_config(
    zoo: Path, out: Path, evaluations: int, seed: int, api_base: str, legacy: bool, no_polish: bool = False
) -> Path:
    cfg = yaml.safe_load((zoo / "run.yaml").read_text())
    root = zoo.resolve()
    cfg["models"] = {k: str(root / v) for k, v in cfg["models"].items()}
    cfg["tasks"] = str(root / cfg["tasks"])
    cfg.update(name="llm-path", seed=seed)
    cfg["budget"] = {"evaluations": evaluations}
    if no_polish:  # every evaluation after the seeds is a proposal: prompts compare across versions
        cfg.setdefault("strategy", {})["cmaes_inner"] = 0
    proposer = {"model": MODEL, "api_base": api_base}
    if not legacy:  # retries and prices per proposer arrived with the LLM-path work
        proposer.update(max_retries=1, input_per_mtok=0.5, output_per_mtok=2.0)
    cfg["proposers"] = [proposer]
    path = out / "llm-path.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def tokens(messages: list[dict]) -> int:
    import litellm

    litellm.disable_hf_tokenizer_download = True
    return int(litellm.token_counter(model="gpt-4o", messages=messages))


def describe(values: list[float]) -> str:
    return f"mean {statistics.mean(values):.0f}, max {max(values):.0f}" if values else "—"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, default=Path("zoo"))
    ap.add_argument("--evaluations", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--formats", choices=("all", "recipe", "good"), default="all")
    ap.add_argument("--out", type=Path, default=Path("bench/out/llm_path"))
    ap.add_argument(
        "--no-polish", action="store_true", help="strategy.cmaes_inner 0: only proposals after the seeds"
    )
    args = ap.parse_args()
    pool = {"all": FORMATS, "recipe": ("recipe",), "good": GOOD}[args.formats]
    args.out.mkdir(parents=True, exist_ok=True)
    run_dir = args.out / "llm-path"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    model = ImperfectCoder(pool=pool, seed=args.seed)
    try:
        from agents.session import run_session
        from evolution.runs.config import load_config
        from evolution.runs.lineage import Lineage

        legacy = False
    except ImportError:  # an evomerge from before the layout by concern, for before/after figures
        from evolution.lineage import Lineage  # type: ignore[no-redef]
        from evolution.runconfig import load_config  # type: ignore[no-redef]
        from evolution.session import run_session  # type: ignore[no-redef]

        legacy = True
    with FakeLLMServer(script=model) as server:
        path = run_config(
            args.zoo, args.out, args.evaluations, args.seed, server.api_base, legacy, args.no_polish
        )
        cfg = load_config(path)
        t0 = time.perf_counter()
        result = run_session(cfg, args.out)
        wall = time.perf_counter() - t0
        requests = [r.body for r in server.chat_requests if isinstance(r.body, dict)]
    proposal_msgs = [
        b["messages"] for b in requests if not b["messages"][-1]["content"].startswith("## Reflect")
    ]
    prompt_tokens = [tokens(m) for m in proposal_msgs]
    system = [tokens(m[:1]) for m in proposal_msgs if m and m[0]["role"] == "system"]

    cands = Lineage.open_or_init(result.run_dir / "lineage", "llm-path").candidates()
    by_id = {c.id: c for c in cands}
    llm = [c for c in cands if c.proposer == MODEL]
    evaluated = [c for c in llm if c.status == "ok"]
    ops = Counter(c.operator for c in cands if c.status == "ok" or c.dev is not None)
    numeric = [c for c in cands if c.operator == "cmaes" and c.dev is not None]
    on_llm = [c for c in numeric if c.parents and by_id.get(c.parents[0]) in llm]
    per_cand = [c.cost.prompt_tokens for c in llm]
    completion = [c.cost.completion_tokens for c in llm]
    n_eval = int(result.state["evaluations"])  # not `dev is not None`: island migrants are copies
    print(f"session: {n_eval} evaluations, {len(cands)} candidates, {wall:.0f} s; replies asked: "
          f"{dict(Counter(model.asked))}")  # fmt: skip
    print(f"prompt tokens per proposal call (cl100k, system included): {describe(prompt_tokens)}; "
          f"system prompt {describe(system)}")  # fmt: skip
    print(f"per LLM candidate (all its calls, provider usage): prompt {describe(per_cand)}, "
          f"completion {describe(completion)}")  # fmt: skip
    calls = len(proposal_msgs)
    share_calls, share_cands = len(evaluated) / max(calls, 1), len(evaluated) / max(len(llm), 1)
    print(f"proposal calls {calls}; LLM candidates {len(llm)}, evaluated {len(evaluated)} "
          f"({share_calls:.0%} of calls, {share_cands:.0%} of candidates)")  # fmt: skip
    failures = Counter((c.error or "").split(":")[0][:40] for c in llm if c.status != "ok")
    print(f"LLM candidates not evaluated: {dict(failures)}")
    num_share, llm_share = len(numeric) / max(n_eval, 1), len(on_llm) / max(n_eval, 1)
    print(f"budget split: {dict(ops)}; numeric points {len(numeric)} ({num_share:.0%}), "
          f"of which polishing LLM structures {len(on_llm)} ({llm_share:.0%} of the budget)")  # fmt: skip
    best = result.state.get("best") or {}
    print(f"best {best.get('id')} dev {best.get('dev', 0):.3f} test {best.get('test') or 0:.3f}")
    (args.out / "summary.json").write_text(
        json.dumps(
            {"prompt_tokens": prompt_tokens, "llm": len(llm), "evaluated": len(evaluated), "calls": calls},
            indent=1,
        )
    )
    (args.out / "prompts.json").write_text(json.dumps(proposal_msgs[:5], indent=1))  # what a model read


if __name__ == "__main__":
    main()
