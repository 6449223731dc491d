"""The Rust renderer of the log writer against the Python one: same bytes for every raw entry.

The writer hands each batch to ``_core.render_log_chunks``, which renders and masks raw entries
with the interpreter released and joins the lines into whole-line chunks; the items it leaves are
rendered by the Python renderer (`_fast_line`). Both must write the same line for every entry they
both take.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfs_monitoring import _core
from rfs_monitoring._logging import config as log_config
from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring._logging.entry import _format_exception, _MaskedArgs
from rfs_monitoring._logging.render import _fast_line, render_json
from rfs_monitoring.masking import Masker, configure_masking, get_masker
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import (
    StdlibBridgeHandler,
    configure_logging,
    flush_logs,
    get_logger,
    log_result_operation,
)

RENDERED = ("12.5", "null")

texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=24)
# Text that looks like secrets now and then, so masking is exercised on every field.
secretish = st.one_of(
    texts,
    st.sampled_from(
        [
            "password=hunter2",
            "Bearer abc.def-123",
            "card 4111 1111 1111 1111",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            'say "hi"\n\t\x08\x0c\x01 done \\ é ☃',
        ]
    ),
)
keys = st.one_of(texts, st.sampled_from(["token", "api_key", "user", "secret", "page"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    secretish,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=3),
    ),
    max_leaves=10,
)
optional = st.one_of(st.none(), secretish)
bound_items = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "user_id": st.one_of(st.none(), secretish, st.integers()),
            "request_id": st.one_of(st.none(), secretish),
            "tenant": values,
            "page": values,
        },
    ),
)
# The bound context is a read-only view in the package (bind_context, the middleware).
bound = st.one_of(bound_items, bound_items.map(MappingProxyType))
milliseconds = st.one_of(
    st.floats(min_value=0.0, max_value=1e7),
    st.sampled_from([0.0, 1.03125, 1.09375, 0.00005, 1e-7, 2.5e16]),
)
raw_entries = st.tuples(
    st.sampled_from(["result_operation", "result_step"]),
    st.sampled_from([10, 20, 25, 30, 40, 50]),
    st.floats(min_value=0.0, max_value=4e9),
    texts,
    texts,
    st.one_of(st.none(), texts),
    st.sampled_from(["success", "error"]),
    milliseconds,
    st.one_of(st.none(), texts),
    st.one_of(st.none(), texts),
    st.one_of(st.none(), texts),
    optional,
    bound,
    st.one_of(st.none(), st.dictionaries(keys, values, max_size=4)),
    st.one_of(st.none(), texts),
    st.one_of(st.none(), texts),
    st.one_of(st.none(), secretish.map(ValueError)),
)


def chunks(batch: list[Any], chunk_chars: int = 262144) -> tuple[list[tuple[str, int]], list[int]]:
    """The core's `RenderedChunks` as ``([(chunk, lines), ...], left)``."""
    made = _core.render_log_chunks(
        batch,
        get_masker()._text,
        log_config._config.fixed_json,
        RENDERED[0],
        RENDERED[1],
        _format_exception,
        chunk_chars,
        _MaskedArgs,
    )
    assert isinstance(made, _core.RenderedChunks)  # typed, not a positional pair
    assert len(made.chunks) == len(made.lines)
    assert not (made.chunks and made.left)
    return list(zip(made.chunks, made.lines, strict=True)), made.left


def native(raw: Any) -> str | None:
    """The core's line for one item, or None when it leaves the item to Python."""
    pieces, left = chunks([raw])
    if left:
        assert left == [0]
        assert pieces == []
        return None
    assert len(pieces) == 1
    assert pieces[0][1] == 1
    assert pieces[0][0].endswith("\n")
    return pieces[0][0][:-1]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_entries)
def test_the_rust_renderer_writes_what_the_python_renderer_writes(raw: tuple[Any, ...]) -> None:
    line = native(raw)
    assert line is not None
    assert line == _fast_line(raw, log_config._config, RENDERED)
    assert list(json.loads(line))[:7] == [
        "timestamp",
        "level",
        "event",
        "correlation_id",
        "operation_name",
        "step_name",
        "result_type",
    ]


def _raw(**changes: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "kind": "result_operation",
        "level": 20,
        "ts": 1_767_323_045.25,
        "cid": "c-1",
        "op": "op",
        "step": None,
        "rtype": "success",
        "ms": 1.5,
        "stype": "int",
        "etype": None,
        "ecode": None,
        "emsg": None,
        "bound": {},
        "meta": None,
        "trace": None,
        "span": None,
        "exc": None,
    }
    fields.update(changes)
    return tuple(fields.values())


def test_secrets_are_masked_in_every_free_text_field() -> None:
    raw = _raw(
        rtype="error",
        emsg="login failed: password=hunter2",
        bound={"user_id": "Bearer abc.def", "request_id": "token=x", "session": "s-1"},
        meta={"args": {"api_key": "k-1", "note": "sk_live_0123456789abcdef"}},
        exc=ValueError("password=hunter2"),
    )
    line = native(raw)
    assert line is not None
    entry = json.loads(line)
    assert entry["error_message"] == "login failed: password=***"
    assert entry["user_id"] == "Bearer ***"
    assert entry["request_id"] == "token=***"
    assert entry["metadata"] == {"session": "***", "args": {"api_key": "***", "note": "***"}}
    assert "hunter2" not in line
    assert line == _fast_line(raw, log_config._config, RENDERED)


@pytest.mark.parametrize(
    "raw",
    [
        _raw(meta={"when": __import__("datetime").date(2026, 1, 2)}),  # not a JSON type
        _raw(meta={1: "non-string key"}),
        _raw(meta={"x": float("nan")}),
        _raw(ms=float("inf")),
        _raw(ms=2),  # an int: Python writes it without a fraction
        _raw(cid="lone \ud800 surrogate"),
        _raw(ts=-1.0),
        ("not", "a", "raw", "entry"),
        {"event": "a dict entry", "when": __import__("datetime").date(2026, 1, 2)},
        {"event": "a dict entry", "x": float("inf")},
        {1: "a non-string key"},
        "lone \ud800 surrogate in a line",
    ],
)
def test_what_the_core_does_not_take_is_left_to_python(raw: Any) -> None:
    assert native(raw) is None


@pytest.fixture
def sink() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging(stream=out)
    yield out
    configure_logging()


def test_the_writer_renders_raw_entries_in_rust(
    sink: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain entries never reach the Python renderer; entries it cannot take still do."""
    python_lines: list[tuple[Any, ...]] = []
    real = log_writer._fast_line

    def counted(raw: tuple[Any, ...], *args: Any) -> str:
        python_lines.append(raw)
        return real(raw, *args)

    monkeypatch.setattr(log_writer, "_fast_line", counted)

    @log_result_operation("native_op", log_args=True)
    def op(when: Any) -> Result[int, str]:
        return Success(1) if when is None else Failure("password=hunter2")

    assert op(None) == Success(1)
    assert op(__import__("datetime").date(2026, 1, 2)) == Failure("password=hunter2")
    assert flush_logs()
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [line["result_type"] for line in lines] == ["success", "error"]
    assert lines[1]["error_message"] == "password=***"
    assert lines[1]["metadata"]["args"] == {"when": "2026-01-02"}
    assert len(python_lines) == 1  # the date argument only


def test_custom_masking_patterns_keep_the_python_renderer(sink: io.StringIO) -> None:
    previous = configure_masking(patterns=[r"ACME-\d{6}"])
    try:

        @log_result_operation("patterned")
        def op() -> Result[int, str]:
            return Failure("ticket ACME-123456")

        op()
        assert flush_logs()
    finally:
        configure_masking(
            extra_keys=sorted(previous.keys - set(_core.DEFAULT_SENSITIVE_KEYS)),
            patterns=previous.patterns,
            replacement=previous.replacement,
        )
    assert json.loads(sink.getvalue())["error_message"] == "ticket ***"


def test_a_failing_core_leaves_the_batch_to_python(
    sink: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("core unavailable")

    monkeypatch.setattr(_core, "render_log_chunks", broken)

    @log_result_operation("fallback_op")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    assert flush_logs()
    assert json.loads(sink.getvalue())["operation_name"] == "fallback_op"


def test_chunks_hold_whole_lines_in_order_and_keep_lines_rendered_by_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lines rendered by Python (str items) go in their place; the chunks are cut exactly as the
    writer's `_chunks` cuts the same lines (whole lines up to the limit, a longer line alone)."""
    raws = [_raw(cid=f"c-{n}", emsg="é" * (n * 90)) for n in range(6)]
    batch: list[Any] = [raws[0], '{"event":"from python"}', *raws[1:]]
    pieces, left = chunks(batch, chunk_chars=700)
    assert left == []
    lines = "".join(piece for piece, _ in pieces).splitlines()
    assert lines[1] == '{"event":"from python"}'
    assert [json.loads(line).get("correlation_id") for line in lines] == [
        "c-0",
        None,
        "c-1",
        "c-2",
        "c-3",
        "c-4",
        "c-5",
    ]
    monkeypatch.setattr(log_writer, "_WRITE_CHUNK", 700)
    assert pieces == list(log_writer._chunks(lines))
    assert len(pieces) > 2


def test_a_batch_with_an_item_the_core_leaves_is_rendered_in_order(
    sink: io.StringIO,
) -> None:
    """One entry with a date among plain ones: every line is written, in call order."""

    @log_result_operation("ordered", log_args=True)
    def op(value: Any) -> Result[Any, str]:
        return Success(1)

    import datetime

    for n in range(10):
        op(datetime.date(2026, 1, 2) if n == 4 else n)
    assert flush_logs()
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [line["metadata"]["args"]["value"] for line in lines] == [
        0,
        1,
        2,
        3,
        "2026-01-02",
        5,
        6,
        7,
        8,
        9,
    ]


def test_arguments_masked_at_the_call_are_not_masked_again() -> None:
    """`_MaskedArgs` holds what the call masked: both renderers write it as it is (a second pass
    would mask this text, which the call left alone on purpose here); a plain dict is masked, and
    a sensitive key still hides the whole value."""
    raw = _raw(
        meta={
            "args": _MaskedArgs({"note": "password=hunter2", "items": [1, "x", None]}),
            "plain": {"note": "password=hunter2"},
            "token": _MaskedArgs({"a": 1}),
        }
    )
    line = native(raw)
    assert line is not None
    assert json.loads(line)["metadata"] == {
        "args": {"note": "password=hunter2", "items": [1, "x", None]},
        "plain": {"note": "password=***"},
        "token": "***",
    }
    assert line == _fast_line(raw, log_config._config, RENDERED)


def test_a_logged_call_masks_its_arguments_once(
    sink: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once at the call (a snapshot), never again in the listeners' dict or the writer."""
    masked: list[Any] = []
    real = Masker.mask

    def counting(self: Masker, value: Any) -> Any:
        masked.append(value)
        return real(self, value)

    monkeypatch.setattr(Masker, "mask", counting)
    seen: list[dict[str, Any]] = []

    @log_result_operation("masked_once", log_args=True)
    def op(user: str, password: str) -> Result[int, str]:
        return Success(1)

    from rfs_monitoring.result_logging import add_listener

    op("ada", "hunter2")  # the writer's path
    remove = add_listener(seen.append)
    try:
        op("ada", "hunter2")  # the listeners' path
    finally:
        remove()
    assert flush_logs()
    assert masked == [{"user": "ada", "password": "hunter2"}] * 2
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [line["metadata"]["args"] for line in lines] == [{"user": "ada", "password": "***"}] * 2
    assert seen[0]["metadata"]["args"] == {"user": "ada", "password": "***"}


events = st.dictionaries(keys, values, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_dict_entries_are_written_as_render_json_writes_them(event: dict[str, Any]) -> None:
    """structlog's and the stdlib bridge's entries (dicts masked when made) are written by the
    core exactly as `render_json` writes them, and never masked again."""
    line = native(event)
    assert line is not None
    assert line == render_json(event)


def test_structlog_and_stdlib_entries_go_through_the_core(
    sink: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    python_items: list[Any] = []
    real = log_writer._python_line

    def counted(item: Any, *args: Any) -> str:
        python_items.append(item)
        return real(item, *args)

    monkeypatch.setattr(log_writer, "_python_line", counted)
    get_logger(component="billing").info("charged", amount=3, token="t-1")
    log = logging.getLogger("test_log_native.bridge")
    handler = StdlibBridgeHandler()
    log.addHandler(handler)
    try:
        log.warning("login with password=%s", "hunter2")
    finally:
        log.removeHandler(handler)
    assert flush_logs()
    first, second = (json.loads(line) for line in sink.getvalue().splitlines())
    assert (first["event"], first["amount"], first["token"]) == ("charged", 3, "***")
    assert second["event"] == "login with password=***"
    assert python_items == []


def test_entries_inside_a_request_with_bound_context_are_rendered_by_the_core(
    sink: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bind_context and the middleware bind a read-only view: the core reads it too."""
    from rfs_monitoring.context import bind_context

    python_items: list[Any] = []
    real = log_writer._python_line

    def counted(item: Any, *args: Any) -> str:
        python_items.append(item)
        return real(item, *args)

    monkeypatch.setattr(log_writer, "_python_line", counted)

    @log_result_operation("bound_op")
    def op() -> Result[int, str]:
        return Success(1)

    with bind_context(user_id="u-1", request_id="r-1", tenant="acme"):
        op()
    assert flush_logs()
    line = json.loads(sink.getvalue())
    assert (line["user_id"], line["request_id"], line["metadata"]) == (
        "u-1",
        "r-1",
        {"tenant": "acme"},
    )
    assert python_items == []
