"""The fake OpenAI-compatible server, exercised through litellm itself: what the client returns or raises."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from typing import Any

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no price-map download at import

import litellm  # noqa: E402
from fake_llm_server import (  # noqa: E402
    Behaviour,
    Drop,
    FakeLLMServer,
    HTTPError,
    Malformed,
    Reply,
    count_tokens,
    cut,
    fenced,
    rate_limited,
    search_replace,
    server_error,
    truncate_tokens,
    unavailable,
)

from agents.replies import parse_reply  # noqa: E402

litellm.suppress_debug_info = True

MESSAGES = [
    {"role": "system", "content": "You write merge recipes."},
    {"role": "user", "content": "Improve it."},
]
RECIPE = "WEIGHT = 0.5\n\n\ndef build():\n    return linear(WEIGHT)\n"


def ask(server: FakeLLMServer, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"messages": MESSAGES, "num_retries": 0, **kwargs}
    return litellm.completion(model="openai/fake-coder", api_base=server.api_base, api_key="sk-test", **args)


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_text_reply_in_openai_format() -> None:
    content = fenced(RECIPE, prose="Lower the weight.")
    with FakeLLMServer([Reply(content)]) as server:
        resp = ask(server, max_tokens=500)
        raw = post(server.api_base + "/chat/completions", {"model": "fake-coder", "messages": MESSAGES})
        (request, _) = server.chat_requests
    assert resp.choices[0].message.content == content
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens == count_tokens("You write merge recipes.\nImprove it.") == 6
    assert resp.usage.completion_tokens == count_tokens(content)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert (raw["object"], raw["model"]) == ("chat.completion", "fake-coder")
    assert raw["id"].startswith("chatcmpl-")
    assert raw["choices"][0]["message"] == {"role": "assistant", "content": "OK"}
    assert request.body["max_tokens"] == 500 and request.body["messages"] == MESSAGES
    assert request.path == "/v1/chat/completions" and request.time > 0


def test_models_listing_and_route_without_v1() -> None:
    with FakeLLMServer(model="fake-coder") as server:
        with urllib.request.urlopen(server.api_base + "/models", timeout=5) as response:
            listing = json.load(response)
        root = server.api_base.removesuffix("/v1")
        answer = post(root + "/chat/completions", {"model": "x", "messages": []})
    assert [m["id"] for m in listing["data"]] == ["fake-coder"]
    assert answer["choices"][0]["message"]["content"] == "OK"


@pytest.mark.parametrize(
    "content",
    [
        fenced(RECIPE, lang="", prose="Bare fences:"),
        fenced("x = 1\n", prose="First:") + fenced(RECIPE, prose="Then the recipe:"),
        search_replace([("WEIGHT = 0.5", "WEIGHT = 0.7")]),
        "I would keep the parent recipe as it is; it already scores well.",
        fenced("def build(:\n    return\n", prose="Broken:"),
        "",
        "line one\r\nline two\r\n\ttabbed \u00e9\u4e2d\U0001f600",
    ],
    ids=[
        "bare-fence",
        "several-blocks",
        "search-replace",
        "prose-only",
        "syntax-error",
        "empty",
        "crlf-unicode",
    ],
)
def test_reply_shapes_arrive_verbatim(content: str) -> None:
    with FakeLLMServer([Reply(content)]) as server:
        assert ask(server).choices[0].message.content == content


def test_megabytes_of_text() -> None:
    content = "merge " * 400_000
    with FakeLLMServer([Reply(content)]) as server:
        resp = ask(server)
    assert len(resp.choices[0].message.content) == len(content)
    assert resp.usage.completion_tokens == 400_000


def test_broken_text_still_sends_valid_json() -> None:
    script = [
        Reply("bad \ud800 here"),
        Reply(b"bytes \xff\xfe end"),
        Reply("bad \udc80", escape_surrogates=True),
    ]
    with FakeLLMServer(script) as server:
        replaced, decoded, escaped = (ask(server).choices[0].message.content for _ in script)
    assert replaced == "bad \ufffd here"
    assert decoded == "bytes \ufffd\ufffd end"
    assert escaped == "bad \udc80"


def test_cut_reply_reports_length() -> None:
    with FakeLLMServer([cut(fenced(RECIPE), 7)]) as server:
        resp = ask(server)
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == "Here is the new recipe.\n\n```python\nWEIGHT "
    assert resp.usage.completion_tokens == 7


def test_request_max_tokens_cuts_a_longer_reply() -> None:
    with FakeLLMServer(default=Reply("a b c d e f g h")) as server:
        short = ask(server, max_tokens=3)
        fits = ask(server, max_tokens=8)
        completion_limit = ask(server, max_completion_tokens=2)
    assert (short.choices[0].message.content, short.choices[0].finish_reason) == ("a b c ", "length")
    assert (fits.choices[0].message.content, fits.choices[0].finish_reason) == ("a b c d e f g h", "stop")
    assert completion_limit.choices[0].finish_reason == "length"


def test_truncate_tokens_keeps_spacing() -> None:
    assert truncate_tokens("  a\n\nb  c", 2) == "  a\n\nb  "
    assert truncate_tokens("a b", 5) == "a b"
    assert truncate_tokens("a b", 0) == ""


def test_429_is_rate_limit_error_with_retry_after() -> None:
    with FakeLLMServer([rate_limited(retry_after=3)]) as server:
        with pytest.raises(litellm.RateLimitError) as info:
            ask(server)
        assert len(server.chat_requests) == 1
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "3"
    assert "Rate limit reached" in str(info.value)


def test_default_call_retries_in_the_openai_sdk_honouring_retry_after() -> None:
    """Without num_retries the OpenAI SDK under litellm makes 3 attempts, waiting Retry-After between them."""
    with FakeLLMServer([rate_limited(retry_after=0.2)] * 2, default=Reply("done")) as server:
        resp = litellm.completion(
            model="openai/fake-coder", api_base=server.api_base, api_key="sk-test", messages=MESSAGES
        )
        times = [r.time for r in server.chat_requests]
    assert resp.choices[0].message.content == "done"
    assert len(times) == 3
    assert all(later - earlier >= 0.18 for earlier, later in zip(times, times[1:], strict=False))


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (server_error(500), litellm.InternalServerError),
        (unavailable(), litellm.ServiceUnavailableError),
        (HTTPError(502, "bad gateway"), litellm.BadGatewayError),
        (Malformed(), litellm.InternalServerError),
        (Drop(), litellm.InternalServerError),
    ],
    ids=["500", "503", "502", "malformed-json", "dropped-connection"],
)
def test_failures_raise_litellm_errors(behaviour: Behaviour, error: type[Exception]) -> None:
    with FakeLLMServer([behaviour], default=Reply("unused")) as server:
        with pytest.raises(error):
            ask(server)
        assert len(server.chat_requests) == 1


def test_dropped_connection_reads_as_connection_error() -> None:
    with FakeLLMServer([Drop()]) as server:
        with pytest.raises(litellm.InternalServerError, match="Connection error"):
            ask(server)


def test_slow_reply_past_timeout_raises_timeout() -> None:
    with FakeLLMServer([Reply("late", delay_s=2.0)]) as server:
        with pytest.raises(litellm.Timeout):
            ask(server, timeout=0.2)


def test_list_script_then_default() -> None:
    with FakeLLMServer([Reply("first"), Reply("second")], default=Reply("again")) as server:
        server.push(Reply("third"))
        answers = [ask(server).choices[0].message.content for _ in range(5)]
    assert answers == ["first", "second", "third", "again", "again"]


def test_callable_script_sees_the_request() -> None:
    def script(request: dict[str, Any]) -> Reply | HTTPError:
        if request.get("seed") == 13:
            return server_error(500)
        return Reply(f"seed {request.get('seed')} at {request.get('temperature')}")

    with FakeLLMServer(script) as server:
        resp = ask(server, seed=7, temperature=0.3)
        with pytest.raises(litellm.InternalServerError):
            ask(server, seed=13)
    assert resp.choices[0].message.content == "seed 7 at 0.3"


def test_parameters_and_headers_pass_through() -> None:
    with FakeLLMServer() as server:
        headers = {"X-Evomerge-Run": "r1"}
        ask(server, max_tokens=64, seed=1, temperature=0.0, extra_headers=headers, drop_params=True)
        (request,) = server.chat_requests
    assert {k: request.body[k] for k in ("model", "max_tokens", "seed", "temperature")} == {
        "model": "fake-coder",
        "max_tokens": 64,
        "seed": 1,
        "temperature": 0.0,
    }
    assert request.headers["x-evomerge-run"] == "r1"
    assert request.headers["authorization"] == "Bearer sk-test"


def test_several_choices_streaming_and_cached_tokens() -> None:
    with FakeLLMServer(default=Reply("alpha beta gamma", cached_tokens=4)) as server:
        several = ask(server, n=2)
        chunks = list(ask(server, stream=True, stream_options={"include_usage": True}))
        cached = ask(server)
    assert [c.message.content for c in several.choices] == ["alpha beta gamma"] * 2
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "alpha beta gamma"
    assert chunks[-1].usage.completion_tokens == 3
    assert cached.usage.prompt_tokens_details.cached_tokens == 4


def test_prompt_cache_reports_shared_prefixes() -> None:
    system = {"role": "system", "content": "long shared instructions " * 20}
    with FakeLLMServer(prompt_cache=True) as server:
        first = ask(server, messages=[system, {"role": "user", "content": "parent one"}])
        second = ask(server, messages=[system, {"role": "user", "content": "parent two"}])
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details.cached_tokens == 61
    assert second.usage.prompt_tokens == 62


def test_a_failing_script_answers_500() -> None:
    def script(request: dict[str, Any]) -> Reply:
        raise KeyError("no such case")

    with (
        FakeLLMServer(script) as server,
        pytest.raises(litellm.InternalServerError, match="fake script failed"),
    ):
        ask(server)


def test_concurrent_requests_are_answered_concurrently() -> None:
    """A serial server would take the 2nd request only after answering the 1st (one delay later);
    here every request is taken before the first answer could have gone out."""
    delay = 3.0
    with FakeLLMServer(default=Reply("ok", delay_s=delay)) as server:
        threads = [threading.Thread(target=ask, args=(server,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        arrivals = [r.time for r in server.chat_requests]
    assert len(arrivals) == 4
    assert max(arrivals) - min(arrivals) < delay


def test_replies_parse_what_litellm_returns() -> None:
    edits = search_replace([("WEIGHT = 0.5", "WEIGHT = 0.7")])
    script = [
        cut(fenced(RECIPE), 7),
        Reply(edits),
        Reply(fenced(RECIPE, prose="Odd \ud800"), escape_surrogates=True),
    ]
    with FakeLLMServer(script) as server:
        choices = [ask(server).choices[0] for _ in script]
    cut_off, edited, odd = (parse_reply(c.message.content, RECIPE, c.finish_reason) for c in choices)
    assert (cut_off.kind, cut_off.code) == ("truncated", None)
    assert (edited.kind, edited.code) == ("edits", RECIPE.replace("0.5", "0.7"))
    assert (odd.kind, odd.code, odd.rationale) == ("recipe", RECIPE, "Odd \ufffd")


def test_close_cuts_pending_delays_short() -> None:
    server = FakeLLMServer(default=Reply("late", delay_s=30))
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(ask(server, timeout=10).choices[0].message.content)
        except Exception as e:  # noqa: BLE001 - any end is fine, as long as it comes soon
            outcome.append(e)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    while not server.chat_requests:
        time.sleep(0.01)
    server.close()
    caller.join(timeout=10)
    assert outcome  # the 30 s delay was cut short by close()
