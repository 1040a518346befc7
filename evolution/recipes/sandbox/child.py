"""Sandbox child: runs one recipe in a locked-down interpreter and returns its plan as JSON.

Started by evolution.recipes.sandbox as `python -I -S -B child.py` with an empty environment
in an empty directory; standard library only, so it starts fast. Order matters: read the
request, import the recipe API, drop privileges and leave the network, set resource limits,
compile, install the audit hook (deny by default), run the recipe, write one JSON document.
"""

from __future__ import annotations

import builtins
import functools
import importlib.util
import itertools
import json
import math
import os
import resource
import struct
import sys
import types

MAX_REQUEST = 4 << 20
MAX_PLAN = 4 << 20
MAX_STDOUT = 8 << 10
MAX_MESSAGE = 2000
SAFE_BUILTINS = (
    "abs all any ascii bin bool callable chr dict divmod enumerate filter float format frozenset hash hex "
    "int isinstance issubclass iter len list map max min next oct ord pow print range repr reversed round "
    "set slice sorted str sum tuple zip ArithmeticError AssertionError Exception IndexError KeyError "
    "LookupError NotImplementedError OverflowError RuntimeError StopIteration TypeError ValueError "
    "ZeroDivisionError"
).split()
BUILTIN_EXCEPTIONS = tuple(
    v for v in vars(builtins).values() if isinstance(v, type) and issubclass(v, BaseException)
)
PUBLIC_MODULES = (math, itertools, functools)
ALLOWED_EVENTS = frozenset({"builtins.id"})


class OutputLimit(Exception):
    """The recipe printed more than the sandbox keeps."""


class CappedText:
    """sys.stdout/stderr for the recipe: keeps the first MAX_STDOUT characters, then refuses."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.overflow = False

    def write(self, s: str) -> int:
        if type(s) is not str:
            raise TypeError("write() takes a str")
        if self.size + len(s) > MAX_STDOUT:
            self.overflow = True
            raise OutputLimit(f"the recipe printed more than {MAX_STDOUT} characters")
        self.parts.append(s)
        self.size += len(s)
        return len(s)

    def flush(self) -> None:
        return None


def _load_api(api_dir: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "recipe_api", os.path.join(api_dir, "__init__.py"), submodule_search_locations=[api_dir]
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["recipe_api"] = mod
    spec.loader.exec_module(mod)
    return mod


def _public(mod: types.ModuleType, names: list[str] | None = None) -> types.ModuleType:
    """A fresh module holding only public, non-module attributes: nothing to walk into."""
    proxy = types.ModuleType(mod.__name__)
    for name in names if names is not None else dir(mod):
        value = getattr(mod, name)
        if not name.startswith("_") and not isinstance(value, types.ModuleType):
            setattr(proxy, name, value)
    return proxy


def _isolate() -> dict[str, object]:
    """No new privileges; 'nobody' when started as root; own user, mount and network
    namespaces; the empty working directory as root directory. Everything the recipe needs
    is imported before this."""
    info: dict[str, object] = {"uid": os.getuid()}
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        info["no_new_privs"] = libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
        if os.getuid() == 0:
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            except OSError:
                pass
            info["uid"] = os.getuid()
        # CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET: no network, and a private view of the files
        info["netns"] = libc.unshare(0x10000000 | 0x00020000 | 0x40000000) == 0
        if info["netns"]:
            # the empty working directory becomes "/": no host file is reachable any more
            info["chroot"] = libc.chroot(b".") == 0 and libc.chdir(b"/") == 0
        info["seccomp"] = _seccomp(libc)
    except Exception as e:  # noqa: BLE001 - isolation is best effort; the audit hook still refuses sockets
        info["isolate_error"] = type(e).__name__
    finally:
        for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
            del sys.modules[name]
        for name in ("socket", "_socket", "subprocess", "_posixsubprocess"):
            sys.modules.pop(name, None)
    return info


# x86_64 system calls a recipe never needs once the child is set up: networking, processes,
# signals to others, files (open/modify), namespaces, tracing. Refused with EPERM by seccomp.
_DENY_X86_64 = (
    2, 85, 257, 437,  # open, creat, openat, openat2
    41, 42, 43, 44, 46, 49, 50, 53, 288, 307,  # socket, connect, accept, sendto, sendmsg, bind, listen, ...
    56, 57, 58, 59, 322, 435,  # clone, fork, vfork, execve, execveat, clone3
    62, 200, 234, 129, 297, 424, 434, 438,  # kill, tkill, tgkill, rt_(tg)sigqueueinfo, pidfd_*
    76, 77, 82, 83, 84, 86, 87, 88, 90, 91, 92, 93, 94, 133,  # truncate, rename, mkdir, rmdir, link, ...
    258, 259, 260, 263, 264, 265, 266, 268, 316,  # the *at variants, renameat2
    101, 310, 311, 109, 112,  # ptrace, process_vm_readv/writev, setpgid, setsid
    155, 161, 165, 166, 272, 308,  # pivot_root, chroot, mount, umount2, unshare, setns
    248, 249, 250, 298, 321, 323, 425, 303, 304,  # keys, perf, bpf, userfaultfd, io_uring, handles
)  # fmt: skip


def _seccomp(libc: object) -> bool:
    """A deny-list seccomp filter (x86_64 only; needs no_new_privs). True when installed."""
    import ctypes  # already loaded by _isolate, before the file system went away

    if os.uname().machine != "x86_64":
        return False
    eperm = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
    prog = [(0x20, 0, 0, 4), (0x15, 1, 0, 0xC000003E), (0x06, 0, 0, 0x7FFF0000)]  # arch != x86_64: allow
    prog.append((0x20, 0, 0, 0))  # load the syscall number
    prog.append((0x35, len(_DENY_X86_64) + 1, 0, 0x40000000))  # x32 ABI: deny
    for i, nr in enumerate(_DENY_X86_64):
        prog.append((0x15, len(_DENY_X86_64) - i, 0, nr))  # match: jump to the deny return
    prog += [(0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, eperm)]  # allow; deny
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog), ctypes.addressof(buf))
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def _limits(cpu_s: int, mem_bytes: int) -> None:
    for which, value in (
        (resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)),
        (resource.RLIMIT_AS, (mem_bytes, mem_bytes)),
        (resource.RLIMIT_FSIZE, (0, 0)),
        (resource.RLIMIT_NPROC, (0, 0)),
        (resource.RLIMIT_NOFILE, (16, 16)),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        try:
            resource.setrlimit(which, value)
        except (ValueError, OSError):
            pass


def _guarded_import(proxies: dict[str, types.ModuleType]):  # noqa: ANN202
    def guarded(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002, ANN001, ANN202
        if level != 0 or name not in proxies:
            raise ImportError(f"import of {name!r} is not allowed in recipes")
        return proxies[name]

    return guarded


def _error(kind: str, line: int | None, message: str, hint: str = "") -> dict[str, object]:
    clip = MAX_MESSAGE
    return {"kind": kind, "line": line, "message": message[:clip], "hint": hint[:clip]}


def _recipe_line(exc: BaseException, allowed_ids: set[int]) -> int | None:
    """Line of the innermost recipe frame; touches only this traceback's own objects."""
    line = None
    tb = exc.__traceback__
    seen = 0
    while tb is not None and seen < 200:
        allowed_ids.add(id(tb))
        frame = tb.tb_frame
        allowed_ids.add(id(frame))
        if frame.f_code.co_filename == "recipe.py":
            line = tb.tb_lineno
        tb = tb.tb_next
        seen += 1
    return line


def _describe(exc: BaseException, api_error: type, allowed_ids: set[int]) -> dict[str, object]:
    line = _recipe_line(exc, allowed_ids)
    cls = type(exc)
    if cls is api_error:
        return _error(exc.kind, line, str(exc.args[0]) if exc.args else "recipe API error", exc.hint)
    if cls is OutputLimit:
        return _error("output", line, str(exc), "print less; return the plan from build()")
    if cls in (MemoryError, RecursionError):
        return _error(
            "resources",
            line,
            f"{cls.__name__}: the recipe used too much memory or recursion",
            "use loops over layers instead of deep recursion or huge lists",
        )
    text = "(message of a recipe-defined exception)"
    if cls in BUILTIN_EXCEPTIONS:
        try:
            text = str(exc)[:MAX_MESSAGE]
        except Exception:  # noqa: BLE001 - e.g. MemoryError while formatting a huge message
            text = "(message could not be shown)"
    name = cls.__name__ if cls in BUILTIN_EXCEPTIONS else "Exception"
    hint = "fix the recipe at this line" if line else "return the plan the API built, unchanged"
    if cls is NameError:
        hint = f"only these builtins exist in recipes: {', '.join(SAFE_BUILTINS[:33])}"
    elif cls is ImportError:
        hint = "recipes may import only recipe_api, math, itertools and functools"
    return _error("runtime", line, f"{name}: {text}", hint)


def run(req: dict, api: types.ModuleType, info: dict[str, object]) -> dict[str, object]:
    state_mod = sys.modules["recipe_api._state"]
    api_error = state_mod.RecipeAPIError
    plan_cls = sys.modules["recipe_api._builders"].Plan
    limits = req.get("limits", {})
    _limits(int(limits.get("cpu_s", 10)), int(limits.get("mem_bytes", 1 << 30)))
    try:
        code = compile(req["source"], "recipe.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return {
            "ok": False,
            "error": _error("syntax", getattr(e, "lineno", None), f"{type(e).__name__}: {e}"),
        }
    proxies = {m.__name__: _public(m) for m in PUBLIC_MODULES}
    proxies["recipe_api"] = _public(api, list(api.__all__))
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    safe["__import__"] = _guarded_import(proxies)
    glb: dict[str, object] = {"__builtins__": safe, "__name__": "recipe", "__doc__": None}
    out = CappedText()
    sys.stdout = sys.stderr = out  # type: ignore[assignment]
    pending = [code]
    violations: list[str] = []
    allowed_ids: set[int] = set()

    def hook(event: str, args: tuple) -> None:
        if event == "exec" and pending and args and args[0] is pending[0]:
            pending.clear()
            return
        if event in ALLOWED_EVENTS or (event == "object.__getattr__" and args and id(args[0]) in allowed_ids):
            return
        if len(violations) < 8:
            violations.append(event)
        raise RuntimeError(f"sandbox: {event} is not allowed in recipes")

    sys.addaudithook(hook)
    result: dict[str, object]
    try:
        exec(code, glb)
        build = glb.get("build")
        if not callable(build):
            raise api_error(
                "the recipe defines no build() function", "add def build(): ... return uniform(...)"
            )
        plan = build()
        if type(plan) is not plan_cls:
            raise api_error(
                f"build() returned {type(plan).__name__}, not a plan",
                "return uniform(...), per_layer(...), stack(...), layer_swap(...) or plan(...)",
            )
        text = json.dumps(plan.data, allow_nan=False)
        if len(text) > MAX_PLAN:
            raise OutputLimit(f"the plan is {len(text)} bytes of JSON (limit {MAX_PLAN})")
        result = {"ok": True, "plan": text, "tunables": state_mod.declared_tunables()}
    except BaseException as e:  # noqa: BLE001 - every failure becomes a structured error
        result = {"ok": False, "error": _describe(e, api_error, allowed_ids)}
    if violations:
        result = {
            "ok": False,
            "error": _error(
                "forbidden",
                result.get("error", {}).get("line"),
                f"the recipe attempted a forbidden operation ({', '.join(dict.fromkeys(violations))})",
                "recipes cannot use files, network, processes, reflection or dynamic code",
            ),
        }
    elif out.overflow and result.get("ok"):
        result = {
            "ok": False,
            "error": _error("output", None, f"the recipe printed more than {MAX_STDOUT} chars", "print less"),
        }
    result["stdout"] = "".join(out.parts)
    result["isolation"] = info
    return result


def main() -> None:
    result_fd = os.dup(1)
    os.dup2(2, 1)
    req = json.loads(sys.stdin.buffer.read(MAX_REQUEST))
    api = _load_api(req["api_dir"])
    sys.modules["recipe_api._state"].install(req["context"])
    info = _isolate()
    result = run(req, api, info)
    data = json.dumps(result).encode()
    view = memoryview(data)
    while view:
        n = os.write(result_fd, view)
        view = view[n:]
    os._exit(0)


if __name__ == "__main__":
    main()
