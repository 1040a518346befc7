"""run_recipe: plans come back validated; failures are structured; the layers hold alone."""

from __future__ import annotations

import os
import time

import pytest

from evolution.merge.plan import MergePlan
from evolution.recipes.facts import RecipeFacts, RecipeModel
from evolution.recipes.sandbox import RecipeError, _execute, run_recipe

MODULES = ("self_attn.q_proj.weight", "mlp.down_proj.weight")
FACTS = RecipeFacts(
    tuple(
        RecipeModel(a, 4, hidden_size=32, vocab_size=64, layer_modules=MODULES) for a in ("base", "e1", "e2")
    ),
    base="base",
)
TIES = '''"""Ties with a tunable density.

Second line of rationale."""
from recipe_api import models, tunable, uniform

DENSITY = tunable("density", 0.5, 0.1, 1.0)


def build():
    print("building", len(models.experts))
    return uniform("ties", models.experts, density=DENSITY)
'''
BUILD_OK = "\n\ndef build():\n    from recipe_api import uniform\n    return uniform('ties')\n"


def test_plan_tunables_rationale_and_stdout() -> None:
    out = run_recipe(TIES, FACTS)
    assert isinstance(out.plan, MergePlan)
    assert out.plan.models == ["base", "e1", "e2"] and out.plan.num_layers == 4
    assert out.plan.layers[2].sources[1].layer == 2 and out.plan.layers[2].base.model == "base"
    assert [(t.name, t.value, t.low, t.high) for t in out.tunables] == [("density", 0.5, 0.1, 1.0)]
    assert out.rationale.startswith("Ties with a tunable density.") and "Second line" in out.rationale
    assert out.stdout == "building 2\n"
    assert out.plan.layers[0].sources[0].params["density"] == 0.5


def test_tunable_values_are_substituted_without_touching_code() -> None:
    out = run_recipe(TIES, FACTS, tunable_values={"density": 0.8})
    assert out.tunables[0].value == 0.8 and out.tunables[0].default == 0.5
    assert {s.params["density"] for g in out.plan.layers for s in g.sources} == {0.8}


def test_tunable_value_outside_bounds_or_undeclared_is_an_error() -> None:
    with pytest.raises(RecipeError) as e:
        run_recipe(TIES, FACTS, tunable_values={"density": 3.0})
    assert e.value.kind == "runtime" and "outside" in e.value.message and e.value.line == 6
    with pytest.raises(RecipeError) as e:
        run_recipe(TIES, FACTS, tunable_values={"nonexistent": 0.3})
    assert "nonexistent" in e.value.message


@pytest.mark.parametrize(
    ("source", "kind", "line"),
    [
        ("def build(:\n    pass\n", "syntax", 1),
        ("import os\n" + BUILD_OK, "forbidden", 1),
        ("x = 1\ny = [1][5]\n" + BUILD_OK, "runtime", 2),
        ("def build():\n    return 42\n", "invalid_plan", None),
        (
            "from recipe_api import uniform\n\n\ndef build():\n    return uniform('ties', density=2.0)\n",
            "invalid_plan",
            5,
        ),
        ("x = 1\n", "invalid_plan", None),
        ("from recipe_api import models\nn = models['nope']\n" + BUILD_OK, "invalid_plan", 2),
    ],
)
def test_failures_are_structured(source: str, kind: str, line: int | None) -> None:
    with pytest.raises(RecipeError) as e:
        run_recipe(source, FACTS)
    err = e.value
    assert (err.kind, err.line) == (kind, line), err.to_prompt()
    prompt = err.to_prompt()
    assert kind in prompt and err.message in prompt
    if err.hint:
        assert "Hint: " + err.hint in prompt


def test_api_errors_carry_hints_for_repair() -> None:
    src = "from recipe_api import uniform\n\n\ndef build():\n    return uniform('tiess')\n"
    with pytest.raises(RecipeError) as e:
        run_recipe(src, FACTS)
    assert "unknown merge method 'tiess'" in e.value.message and "ties" in e.value.hint


def test_timeout_kills_quickly() -> None:
    start = time.monotonic()
    with pytest.raises(RecipeError) as e:
        run_recipe("while True:\n    pass\n" + BUILD_OK, FACTS, timeout_s=1.0)
    assert e.value.kind == "timeout"
    assert time.monotonic() - start < 4


def test_environment_never_reaches_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-do-not-leak")
    # run-time layers only: read the child's whole environment through posix and print it
    src = (
        "T = ().__class__.__class__\n"
        "imp = [c for c in T.__subclasses__(().__class__.__base__) if c.__name__ == 'BuiltinImporter'][0]\n"
        "print(dict(imp.load_module('posix').environ))\n" + BUILD_OK
    )
    out = _execute(src, FACTS)
    assert "sk-canary" not in out.stdout and "PATH" in out.stdout
    assert os.environ["OPENAI_API_KEY"] == "sk-canary-do-not-leak"


@pytest.mark.parametrize(
    ("body", "event"),
    [
        # the classic escape: a class whose __init__ globals hold os.system
        (
            "for c in ().__class__.__base__.__subclasses__():\n"
            "    if c.__name__ == '_wrap_close':\n"
            "        c.__init__.__globals__['system']('true')\n",
            "os.system",
        ),
        (
            "T = ().__class__.__class__\n"
            "top = ().__class__.__base__\n"
            "imp = [c for c in T.__subclasses__(top) if c.__name__ == 'BuiltinImporter'][0]\n"
            "imp.load_module('posix').fork()\n",
            "os.fork",
        ),
        ("def g():\n    yield 1\nf = g().gi_frame\n", "object.__getattr__"),
        (
            "import functools\ntry:\n    functools.namedtuple('P', 'x')\nexcept Exception:\n    pass\n",
            "compile",
        ),
    ],
)
def test_audit_hook_refuses_even_without_the_ast_check(body: str, event: str) -> None:
    with pytest.raises(RecipeError) as e:
        _execute(body + BUILD_OK, FACTS)
    assert e.value.kind == "forbidden" and event in e.value.message


def test_child_is_isolated_where_the_kernel_allows() -> None:
    out = run_recipe(TIES, FACTS)
    iso = out.isolation
    assert iso.get("no_new_privs") is True
    if os.getuid() == 0:
        assert iso["uid"] == 65534
    if iso.get("netns"):
        assert iso.get("chroot") is True
    if os.uname().machine == "x86_64":
        assert iso.get("seccomp") is True


def test_seccomp_refuses_unaudited_system_calls() -> None:
    """pidfd_open is not audited by Python; seccomp (x86_64) refuses it in the kernel."""
    src = (
        "T = ().__class__.__class__\n"
        "imp = [c for c in T.__subclasses__(().__class__.__base__) if c.__name__ == 'BuiltinImporter'][0]\n"
        "posix = imp.load_module('posix')\n"
        "try:\n"
        "    print('pidfd', posix.pidfd_open(posix.getppid()))\n"
        "except Exception as e:\n"
        "    print('refused', e)\n" + BUILD_OK
    )
    out = _execute(src, FACTS)
    if out.isolation.get("seccomp"):
        assert out.stdout.startswith("refused [Errno 1]"), out.stdout
    else:
        assert os.uname().machine != "x86_64" or not out.isolation.get("netns")


def test_runtime_import_guard_and_module_proxies() -> None:
    with pytest.raises(RecipeError) as e:
        _execute("import os\n" + BUILD_OK, FACTS)
    assert e.value.kind == "runtime" and "not allowed" in e.value.message
    with pytest.raises(RecipeError) as e:
        _execute("import recipe_api\nx = recipe_api._state\n" + BUILD_OK, FACTS)
    assert "AttributeError" in e.value.message


def test_working_directory_is_removed(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run_recipe(TIES, FACTS)
    with pytest.raises(RecipeError):
        run_recipe("while True:\n    pass\n" + BUILD_OK, FACTS, timeout_s=1.0)
    assert list(tmp_path.iterdir()) == []
