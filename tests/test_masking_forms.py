"""Secret forms inside free text: every form is masked, ordinary text is not, in linear time."""

from __future__ import annotations

import random
import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfs_monitoring import _core
from rfs_monitoring.context import correlation_context, is_valid_correlation_id
from rfs_monitoring.masking import Masker, echo, mask_code, mask_text
from rfs_monitoring.metrics import ResultMetricsCollector
from secret_forms import FORMS, NAMES


@pytest.mark.parametrize(("text", "distinctive"), [(t, d) for _, t, d in FORMS], ids=NAMES)
def test_every_form_is_masked(text: str, distinctive: str) -> None:
    masked = mask_text(text)
    assert distinctive not in masked
    assert "***" in masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connect postgres://app:S3cret@db:5432/app", "connect postgres://app:***@db:5432/app"),
        ("password=correct horse battery staple\nnext line", "password=***\nnext line"),
        ("password: two words, user=ada", "password: ***, user=ada"),
        ("password=x user=ada", "password=*** user=ada"),
        ("https://hooks.slack.com/services/T0/B0/Zq8", "https://hooks.slack.com/services/***"),
        ("GET /a?key=abc&page=2", "GET /a?key=***&page=2"),
        ("order-4111111111111111 paid", "order-*** paid"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\nnext", "***\nnext"),
        ("key AKIAIOSFODNN7EXAMPLE", "key ***"),
    ],
)
def test_forms_keep_their_context(text: str, expected: str) -> None:
    """Only the secret goes: the URL around a password, the line after a passphrase stay."""
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "user 42 not found",
        "request req-123 failed after 3 retries",
        "correlation 4bf92f3577b34da6a3ce929d0e0e4736",  # a trace ID (hex): not a secret
        "id 123e4567-e89b-12d3-a456-426614174000",  # a UUID: not a secret
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",  # a hash: not a secret
        "/usr/lib/python3.11/site-packages/rfs_monitoring/masking.py",
        "C:\\Users\\ada\\AppData\\Local\\Programs\\Python\\Python311\\python.exe",
        "ThisIsAVeryLongCamelCaseIdentifierNameWithoutAnyDigits",
        "getUserByIdV2AndFetchPermissionsForRole",
        "OrderServiceImpl2FetchAllPendingOrdersAsync",
        "XMLHttpRequest2UploadProgressEventTarget",
        "Python311LibSitePackagesRfsMonitoring",
        "test_masking_forms_py_TestFalsePositives_v2_with_parts",
        "the token expired, Basic auth is off",
        "https://example.com/docs/getting-started?page=2&lang=en",
        "order 4111-1111-1111-1112 is not a valid card",
        "phone +1 415 555 2671, zip 94103, date 2024-01-01",
        "GET /monitoring/operations/user_retrieval/metrics?time_range=1h 200",
        "monkeyJump.ab.cd is a sentence",
        "sk-learn and task-scheduling-for-the-nightly-batch-jobs",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_unchanged_text_is_the_same_object() -> None:
    """Clean text costs no copy: the Rust function returns the very object it was given."""
    text = "user 42 not found " * 3
    assert _core.mask_text(text) is text


def test_lone_surrogates_are_masked_not_refused() -> None:
    text = "password=x \udcff"
    masked = mask_text(text)
    assert "password=***" in masked


def test_custom_masker_keys_and_patterns_still_apply() -> None:
    masker = Masker(extra_keys=["iban"], patterns=[r"ACME-\d{6}"], replacement="[x]")
    assert masker.mask_text("iban: DE89 ticket ACME-123456") == "iban: [x] ticket [x]"
    assert masker.is_sensitive_key("IBAN")
    assert not masker.is_sensitive_key("author")


def test_error_codes_are_masked_then_cut() -> None:
    assert mask_code("NOT_FOUND") == "NOT_FOUND"
    assert mask_code("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") == "***"
    long = "E" * 100 + "-token=" + "z" * 100
    assert mask_code(long) == ("E" * 100 + "-token=***")[:128]
    assert len(mask_code("E" * 500)) == 128


def test_echo_masks_then_cuts_to_a_short_prefix() -> None:
    secret = "x" * 30 + " 4111 1111 1111 1111 " + "y" * 20  # cut first, "4111 1" would stay
    shown = echo(secret)
    assert "1111" not in shown
    assert shown.endswith("...")
    assert echo("1h") == "'1h'"
    assert echo(7) == "'7'"


@pytest.mark.parametrize(
    "value",
    [
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz",
        "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",
        "AKIAIOSFODNN7EXAMPLE",
        "k8Zt2QxP7vLm4NwR9sYb3HcJ6dFg1TeU5aWo0",
    ],
)
def test_credential_shaped_correlation_ids_are_refused(value: str) -> None:
    assert not is_valid_correlation_id(value)
    with pytest.raises(ValueError, match="correlation ID") as caught:
        correlation_context(value)
    assert value[8:] not in str(caught.value)


def test_ordinary_correlation_ids_stay_valid() -> None:
    for value in ("req-123", "4bf92f3577b34da6a3ce929d0e0e4736", "job:7.b"):
        assert is_valid_correlation_id(value)


_noise = st.text(max_size=60)
_gap = st.sampled_from([" ", "\n", "\t", " | ", "; "])


@settings(max_examples=300, deadline=None)
@given(
    form=st.sampled_from(FORMS),
    before=_noise,
    after=_noise,
    gap1=_gap,
    gap2=_gap,
    copies=st.integers(1, 3),
)
def test_forms_embedded_in_random_text_never_survive(
    form: tuple[str, str, str], before: str, after: str, gap1: str, gap2: str, copies: int
) -> None:
    _, text, distinctive = form
    embedded = before + gap1 + gap2.join([text] * copies) + gap2 + after
    assert distinctive not in mask_text(embedded)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + " _-./:=", max_size=200))
def test_masking_is_idempotent(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once


def _hostile(size: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(40))
    pieces = [
        *("eyJ-", "eyJa.", "password=", "Bearer ", "4111-", "1 ", "a:b@", "://", "token: "),
        *("-----BEGIN PRIVATE KEY-----", "?key=", "AKIA", "ghp_", "xoxb-", '"', "'", "=", ":"),
        token,
    ]
    out: list[str] = []
    total = 0
    while total < size:
        piece = rng.choice(pieces)
        out.append(piece)
        total += len(piece)
    return "".join(out)[:size]


def _best_time(text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        mask_text(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(
    "make",
    [
        lambda n: ("eyJ-" * n)[:n],
        lambda n: ('password="' * n)[:n],
        lambda n: ("4111-" * n)[:n],
        lambda n: ("a:b@" * n)[:n],
        _hostile,
    ],
    ids=["eyJ", "unclosed-quotes", "digit-runs", "pairs", "random-hostile"],
)
def test_masking_time_grows_linearly(make: object) -> None:
    """Eight times the text takes well under thirty times as long (quadratic would be 64x)."""
    assert callable(make)
    small, large = make(64 * 1024), make(512 * 1024)
    _best_time(small, 1)  # warm the automata's caches
    ratio = _best_time(large) / max(_best_time(small), 1e-5)
    assert ratio < 30, ratio


def test_long_messages_are_masked_before_the_core_cuts_them() -> None:
    """A card across the 512-byte cut: cutting first would keep 15 of its 16 digits."""
    collector = ResultMetricsCollector(sample_resources=False)
    try:
        collector.record("op", 1.0, False, "E", "a" * 496 + " 4111111111111111 declined")
        (top,) = collector.top_errors(10, "1h")
        assert "41111111111" not in top.error_message
        assert top.error_message.startswith("a" * 496 + " ***")
    finally:
        collector.close()


def test_python_and_rust_share_the_default_key_words() -> None:
    """The Rust core keeps its own copy of the default keys: both lists are the same."""
    bare = _core.TextMasker([])
    for key in Masker().keys:
        assert bare.is_sensitive_key(key), key
    assert not bare.is_sensitive_key("iban")
    assert Masker(extra_keys=["iban"]).is_sensitive_key("IBAN")
