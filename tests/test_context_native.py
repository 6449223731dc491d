"""The middleware's native half (`_core.RequestIds`, `_core.CorrelatedRequest`,
`_core.uuid4_hex`, `_core.splice_header`) against the rules it replaces: each behaviour moved
into Rust is compared with the Python rule it came from, kept here as the reference."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfs_monitoring import _core, context
from rfs_monitoring._fork import hook_names
from rfs_monitoring.context import (
    ACCEPTED_ID_HEADERS,
    CorrelationIdMiddleware,
    bind_context,
    correlation_id_from_headers,
    get_context,
    get_correlation_id,
    is_valid_correlation_id,
    new_correlation_id,
    set_correlation_id_generator,
)

UUID4_HEX = re.compile(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")

# -- the reference rules (the Python the native code replaced) ------------------------------------


def _reference_valid_ids(
    headers: Iterable[tuple[bytes, bytes]], wanted: frozenset[bytes]
) -> dict[bytes, str]:
    """The valid values among the ``wanted`` (lowercase) names of raw headers, first
    occurrence of each name (matched after `bytes.lower`)."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        name = name.lower()
        if name in wanted and name not in found:
            found[name] = value
    valid: dict[bytes, str] = {}
    for name, raw in found.items():
        if len(raw) <= 128:
            text = raw.decode("latin-1").strip()
            if is_valid_correlation_id(text):
                valid[name] = text
    return valid


def _reference_ids(
    headers: list[tuple[bytes, bytes]], accept: tuple[bytes, ...]
) -> tuple[str | None, str | None]:
    valid = _reference_valid_ids(headers, frozenset((*accept, b"x-request-id")))
    cid = next((valid[name] for name in accept if name in valid), None)
    return cid, valid.get(b"x-request-id")


def _reference_with_header(
    message: Mapping[str, Any], header: tuple[bytes, bytes]
) -> dict[str, Any]:
    """The former `_with_header`: a copy of the message whose header list drops any header of
    that name (any case) and ends with ``header``."""
    raw = message.get("headers") or ()
    name = header[0]
    headers = [pair for pair in raw if pair[0].lower() != name]
    headers.append(header)
    copy = dict(message)
    copy["headers"] = headers
    return copy


class _CaseInsensitive(dict[str, str]):
    """A headers mapping as Starlette's: names compared case-insensitively."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


def _first_occurrences(headers: list[tuple[bytes, bytes]]) -> _CaseInsensitive:
    mapping = _CaseInsensitive()
    for name, value in headers:
        mapping.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return mapping


def _ids(accept: Iterable[str] = ACCEPTED_ID_HEADERS) -> _core.RequestIds:
    return _core.RequestIds(
        b"x-correlation-id",
        [name.lower().encode("latin-1") for name in accept],
        context._REQUEST_CONTEXT,
    )


# -- header parsing and validation ----------------------------------------------------------------

_NAMES = st.sampled_from(
    [
        b"x-correlation-id",
        b"X-Correlation-ID",
        b"X-CORRELATION-ID",
        b"x-request-id",
        b"X-Request-Id",
        b"x-trace",
        b"host",
        b"accept",
        b"x-correlation-id2",
        b"",
    ]
)
_VALUES = st.one_of(
    st.from_regex(rb"\A[ \t]*[A-Za-z0-9._:-]{1,130}[ \t\x0b\x0c\x1c\x85\xa0]*\Z"),
    st.binary(max_size=140),
    st.sampled_from(
        [
            b"",
            b"   ",
            b"req-1",
            b" req-7 ",
            b"\xa0abc\x85",
            b"a" * 128,
            b" " + b"a" * 127,
            b"a" * 129,
            b"<script>",
            b"abc\r\nSet-Cookie: x=1",
            b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            b"sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            b"4111111111111111",
            b"d3758266-4760-448f-aeaa-3e5530781d06",
        ]
    ),
)
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), max_size=8)


@settings(max_examples=1_500, deadline=None)
@given(_HEADERS)
def test_native_header_ids_follow_the_rule(headers: list[tuple[bytes, bytes]]) -> None:
    """The accepted ID and the request_id read natively are the reference rule's, and the
    accepted ID is what `correlation_id_from_headers` finds in the same headers."""
    cid, request_id = _ids().ids(headers)
    assert (cid, request_id) == _reference_ids(headers, (b"x-correlation-id", b"x-request-id"))
    assert cid == correlation_id_from_headers(_first_occurrences(headers))
    # The other spellings of the same headers: a tuple, a generator, lists as pairs.
    assert _ids().ids(tuple(headers)) == (cid, request_id)
    assert _ids().ids(pair for pair in headers) == (cid, request_id)
    assert _ids().ids([list(pair) for pair in headers]) == (cid, request_id)


@settings(max_examples=500, deadline=None)
@given(_HEADERS)
def test_native_header_ids_follow_the_rule_for_other_accepted_names(
    headers: list[tuple[bytes, bytes]],
) -> None:
    accept = ("X-Trace", "X-Request-ID", "X-Correlation-ID2")
    expected = _reference_ids(headers, tuple(n.lower().encode() for n in accept))
    assert _ids(accept).ids(headers) == expected
    # The accepted ID is correlation_id_from_headers' with the same names.
    assert expected[0] == correlation_id_from_headers(_first_occurrences(headers), accept)


def test_only_the_first_occurrence_of_a_name_counts() -> None:
    """An invalid first X-Correlation-ID is not rescued by a valid second one."""
    headers = [(b"x-correlation-id", b"<bad>"), (b"X-Correlation-ID", b"good-1")]
    assert _ids().ids(headers) == (None, None)
    headers = [(b"X-Request-ID", b" r-1 "), (b"x-request-id", b"r-2")]
    assert _ids().ids(headers) == ("r-1", "r-1")


def test_odd_header_items_are_skipped() -> None:
    """Items that are not raw ``(name, value)`` pairs are ignored, as names that are not
    bytes are (the rule only matches raw names)."""
    headers: list[Any] = [
        ("x-correlation-id", "str-name"),
        (b"x-correlation-id",),
        (b"x-correlation-id", b"a", b"b"),
        7,
        (b"x-request-id", "not-bytes"),
        (b"x-correlation-id", b"kept"),
    ]
    assert _ids().ids(headers) == ("kept", None)
    assert _ids().ids(None) == (None, None)
    assert _ids().ids([]) == (None, None)


def test_a_broken_headers_iterable_raises_its_error() -> None:
    def broken() -> Iterator[tuple[bytes, bytes]]:
        yield (b"host", b"x")
        raise RuntimeError("headers broke")

    with pytest.raises(RuntimeError, match="headers broke"):
        _ids().ids(broken())


# -- the response header splice -------------------------------------------------------------------

_HEADER_NAMES = st.sampled_from(
    [b"x-correlation-id", b"X-Correlation-ID", b"x-CORRELATION-id", b"content-type", b"x-other"]
)
_MESSAGES = st.fixed_dictionaries(
    {"type": st.just("http.response.start"), "status": st.integers(100, 599)},
    optional={
        "headers": st.one_of(
            st.lists(st.tuples(_HEADER_NAMES, st.binary(max_size=8)), max_size=6),
            st.none(),
        ),
        "trailers": st.booleans(),
    },
)


@settings(max_examples=1_000, deadline=None)
@given(_MESSAGES, st.text("abc123-", min_size=1, max_size=10))
def test_native_splice_is_the_reference_splice(message: dict[str, Any], cid: str) -> None:
    """The spliced message equals the reference's; the original message and its header list
    are untouched, and the copy's header list is a new list."""
    header = (b"x-correlation-id", cid.encode())
    before = {**message, "headers": list(message.get("headers") or [])}
    spliced = _core.splice_header(message, *header)
    assert spliced == _reference_with_header(message, header)
    assert spliced is not message
    assert spliced["headers"] is not message.get("headers")
    assert {**message, "headers": list(message.get("headers") or [])} == before


def test_splice_takes_any_mapping_and_any_header_sequence() -> None:
    """A message that is not a dict, headers as a tuple of lists, and names that are not bytes
    (compared by their own ``lower()``) still splice as the reference does."""
    message = MappingProxyType(
        {
            "type": "http.response.start",
            "headers": ([bytearray(b"X-Correlation-ID"), b"old"], [b"content-type", b"x"]),
        }
    )
    header = (b"x-correlation-id", b"new-1")
    spliced = _core.splice_header(message, *header)
    assert spliced == _reference_with_header(message, header)
    assert spliced["headers"] == [[b"content-type", b"x"], header]


# -- CorrelatedRequest.send -----------------------------------------------------------------------


def _enter(
    ids: _core.RequestIds, scope: MutableMapping[str, Any], sent: list[Any]
) -> _core.CorrelatedRequest:
    request = ids.enter(scope, sent.append, context._generator)
    assert request is not None
    return request


def test_send_splices_the_first_response_start_only() -> None:
    sent: list[Any] = []
    request = _enter(_ids(), {"type": "http", "headers": [(b"x-request-id", b"r-9")]}, sent)
    try:
        body = {"type": "http.response.body", "body": b"x"}
        request.send(body)  # not a start: passed on as it is
        assert request.started is False
        start = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]}
        request.send(start)
        again = {"type": "http.response.start", "status": 200, "headers": []}
        request.send(again)
        request.send(body)
    finally:
        request.leave()
    assert request.started is True
    assert sent[0] is body
    assert sent[1] == {**start, "headers": [(b"a", b"1"), (b"x-correlation-id", b"r-9")]}
    assert start["headers"] == [(b"a", b"1")]
    assert sent[2] is again
    assert sent[3] is body


def test_send_splices_a_websocket_accept_and_echo_off_sends_messages_as_they_are() -> None:
    sent: list[Any] = []
    request = _enter(_ids(), {"type": "websocket", "headers": []}, sent)
    request.send({"type": "websocket.accept"})
    cid = get_correlation_id()
    request.leave()
    assert sent == [{"type": "websocket.accept", "headers": [(b"x-correlation-id", cid.encode())]}]

    quiet = _core.RequestIds(b"x-correlation-id", [], context._REQUEST_CONTEXT, False)
    sent.clear()
    request = _enter(quiet, {"type": "http"}, sent)
    start = {"type": "http.response.start", "status": 204}
    request.send(start)
    request.leave()
    assert sent == [start]
    assert sent[0] is start
    assert request.started is True


def test_send_reads_any_mapping_message_and_returns_what_send_returns() -> None:
    sent: list[Any] = []

    def send(message: Any) -> str:
        sent.append(message)
        return "awaitable"

    ids = _ids()
    request = ids.enter({"type": "http"}, send, context._generator)
    assert request is not None
    start = MappingProxyType({"type": "http.response.start", "status": 200})
    assert request.send(start) == "awaitable"
    cid = get_correlation_id()
    request.leave()
    assert sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"x-correlation-id", cid.encode())],
        }
    ]


# -- enter and leave: the context of a request ----------------------------------------------------


def test_enter_passes_other_scopes_through_untouched() -> None:
    scope: dict[str, Any] = {"type": "lifespan"}
    assert _ids().enter(scope, print, context._generator) is None
    assert _ids().enter({}, print, context._generator) is None
    assert _ids().enter({"type": b"http"}, print, context._generator) is None
    assert scope == {"type": "lifespan"}
    assert get_correlation_id() is None


def test_enter_sets_the_request_context_and_leave_restores_the_one_before() -> None:
    """A request started inside bound fields and an operation starts with neither (but its
    request_id); leaving restores them."""
    scope: dict[str, Any] = {
        "type": "http",
        "headers": [(b"x-request-id", b"req-5")],
        "state": {"kept": 1},
    }
    with bind_context(tenant="acme"):
        token = context._operation.set(context.OperationScope("outer", None))
        try:
            request = _enter(_ids(), scope, [])
            assert get_context() == {"correlation_id": "req-5", "request_id": "req-5"}
            assert context._operation.get() is None
            assert scope["state"] == {"kept": 1, "correlation_id": "req-5"}
            request.leave()
            assert get_context() == {"tenant": "acme"}
            assert context._operation.get() is not None
        finally:
            context._operation.reset(token)
    assert get_correlation_id() is None


def test_leave_clears_fields_and_operations_the_application_left_behind() -> None:
    request = _enter(_ids(), {"type": "http", "headers": []}, [])
    bind_context(user_id="u-1")
    context._operation.set(context.OperationScope("left", None))
    request.leave()
    assert get_context() == {}
    assert context._operation.get() is None
    assert context._bound.get() is context._EMPTY


class _Scope(MutableMapping[str, Any]):
    """A scope that is a mapping but no dict."""

    def __init__(self, **items: Any) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def test_enter_reads_a_scope_that_is_no_dict_and_makes_its_state() -> None:
    scope = _Scope(type="http", headers=[(b"x-correlation-id", b"c-1")], state="not a dict")
    request = _enter(_ids(), scope, [])
    request.leave()
    assert scope["state"] == {"correlation_id": "c-1"}
    bare = _Scope(type="websocket")
    request = _enter(_ids(), bare, [])
    cid = bare["state"]["correlation_id"]
    request.leave()
    assert UUID4_HEX.fullmatch(cid)


# -- generation -----------------------------------------------------------------------------------


def test_generated_ids_are_uuid4_hex_and_unique_over_100k() -> None:
    ids = [_core.uuid4_hex() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert all(UUID4_HEX.fullmatch(cid) for cid in ids)
    # Every hex digit shows up in every free position: the bits are random, not fixed.
    assert {cid[0] for cid in ids} == set("0123456789abcdef")
    assert {cid[16] for cid in ids} == set("89ab")


def test_random_seed_in_user_code_does_not_repeat_ids() -> None:
    random.seed(7)
    first = [new_correlation_id() for _ in range(300)]
    random.seed(7)
    second = [new_correlation_id() for _ in range(300)]
    assert not set(first) & set(second)


def test_the_pool_is_dropped_in_a_forked_child() -> None:
    assert "correlation ids" in hook_names()["after_in_child"]
    assert context._uuid4_hex is _core.uuid4_hex


# -- the middleware with the module's generator ---------------------------------------------------


async def _request(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], Any]:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "headers": headers}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0], scope


async def _seen_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_the_middleware_uses_the_installed_generator() -> None:
    """`set_correlation_id_generator` reaches the middleware (the module's generator is read
    per request); an invalid or failing one gives UUID4 hex."""
    middleware = CorrelationIdMiddleware(_seen_app)
    previous = set_correlation_id_generator(lambda: "gen-7")
    try:
        start, scope = asyncio.run(_request(middleware, []))
        assert dict(start["headers"])[b"x-correlation-id"] == b"gen-7"
        assert scope["state"] == {"correlation_id": "gen-7"}
        set_correlation_id_generator(lambda: "bad id")
        start, _ = asyncio.run(_request(middleware, []))
        assert UUID4_HEX.fullmatch(dict(start["headers"])[b"x-correlation-id"].decode())
    finally:
        set_correlation_id_generator(previous)


def test_a_generator_that_raises_a_base_exception_is_not_swallowed() -> None:
    class Stop(BaseException):
        pass

    def stop() -> str:
        raise Stop

    middleware = CorrelationIdMiddleware(_seen_app, generator=stop)
    with pytest.raises(Stop):
        asyncio.run(_request(middleware, []))
    assert get_correlation_id() is None


def test_echo_can_be_switched_after_construction() -> None:
    middleware = CorrelationIdMiddleware(_seen_app)
    middleware.echo = False
    start, _ = asyncio.run(_request(middleware, [(b"x-correlation-id", b"c-2")]))
    assert start["headers"] == []
    assert middleware.echo is False
    middleware.echo = True
    start, _ = asyncio.run(_request(middleware, [(b"x-correlation-id", b"c-2")]))
    assert start["headers"] == [(b"x-correlation-id", b"c-2")]
