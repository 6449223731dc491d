"""Masking of secrets: keys, text patterns, containers, cycles, configuration."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfs_monitoring import masking
from rfs_monitoring.masking import (
    REPLACEMENT,
    Masker,
    configure_masking,
    is_sensitive_key,
    mask,
    mask_text,
    masking_processor,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)


@pytest.fixture(autouse=True)
def default_policy() -> Iterator[None]:
    """Every test starts and ends with the default masking policy."""
    previous = configure_masking()
    yield
    masking._default = previous
    configure_masking()


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "user_password",
        "passwd",
        "secret",
        "client_secret",
        "token",
        "accessToken",
        "refresh_token",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "apikey",
        "authorization",
        "Authorization",
        "auth",
        "cookie",
        "Set-Cookie",
        "session",
        "session_id",
        "credential",
        "credentials",
        "private_key",
        "privateKey",
        "card_number",
        "cardNumber",
        "cvv",
        "ssn",
    ],
)
def test_sensitive_keys_are_recognised_in_every_spelling(key: str) -> None:
    """Sensitive key words are found whatever the case and separators."""
    assert is_sensitive_key(key)
    assert mask({key: "value-123"}) == {key: REPLACEMENT}


@pytest.mark.parametrize(
    "key", ["user_id", "author", "classname", "name", "email_verified", "description", ""]
)
def test_ordinary_keys_are_left_visible(key: str) -> None:
    """Keys that merely contain letters of a short key word (author, classname) are not masked."""
    assert not is_sensitive_key(key)
    assert mask({key: "visible"}) == {key: "visible"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", "password=***"),
        ("login failed: password=hunter2 user=ada", "login failed: password=*** user=ada"),
        ("PASSWORD: hunter2", "PASSWORD: ***"),
        ('{"password": "hunter 2", "user": "ada"}', '{"password": "***", "user": "ada"}'),
        ("api_key='k-1'", "api_key='***'"),
        ("GET /x?token=abc&page=2", "GET /x?token=***&page=2"),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("sent Bearer abc.def-123 upstream", "sent Bearer *** upstream"),
        ("using Basic dXNlcjpwYXNz", "using Basic ***"),
        ("the token expired", "the token expired"),
        ("password=, then token=x", "password=, then token=***"),
        ('password="unclosed and more', "password=***"),  # a passphrase runs to the line's end
        (f"jwt {JWT} end", "jwt *** end"),
        ("card 4111 1111 1111 1111 declined", "card *** declined"),
        ("card 4111-1111-1111-1111 declined", "card *** declined"),
        ("card 4111111111111111 declined", "card *** declined"),
        ("amex 378282246310005", "amex ***"),
    ],
)
def test_secrets_inside_text_are_masked(text: str, expected: str) -> None:
    """Key=value pairs, Bearer/Basic credentials, JWTs and Luhn-valid cards are masked in text."""
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "user not found",
        "order 4111 1111 1111 1112 shipped",  # fails the Luhn check
        "timestamp 2026-01-02T03:04:05Z",
        "id=42 name=ada",
        "phone 555-0100",
        "",
        "a" * 500,
    ],
)
def test_clean_text_is_returned_unchanged(text: str) -> None:
    """Text without secrets comes back as the same string."""
    assert mask_text(text) == text


def test_mask_never_mutates_the_input() -> None:
    """mask returns a new structure and leaves the caller's objects alone."""
    data: dict[Any, Any] = {"password": "p", "items": [{"token": "t"}, ("x", {"secret": "s"})]}
    snapshot = copy.deepcopy(data)
    masked = mask(data)
    assert data == snapshot
    assert masked == {"password": "***", "items": [{"token": "***"}, ("x", {"secret": "***"})]}
    assert masked["items"] is not data["items"]


def test_containers_keep_their_kind() -> None:
    """Lists, tuples, named tuples, sets and frozensets come back as the same kind."""
    Pair = namedtuple("Pair", "left right")
    value = [("password=a",), {"token=b"}, frozenset({"c"}), Pair("secret=x", 1)]
    masked = mask(value)
    assert masked[0] == ("password=***",)
    assert masked[1] == {"token=***"}
    assert masked[2] == frozenset({"c"})
    assert isinstance(masked[3], Pair)
    assert masked[3] == Pair("secret=***", 1)


def test_named_tuple_with_a_custom_constructor_falls_back_to_a_tuple() -> None:
    """A named tuple whose constructor rejects its own fields is masked as a plain tuple."""

    class Strict(namedtuple("Strict", "a b")):
        def __new__(cls, *args: Any) -> Strict:
            if args and REPLACEMENT in str(args[0]):
                raise ValueError("no")
            return super().__new__(cls, *args)

    assert mask(Strict("token=x", 2)) == ("token=***", 2)
    assert mask(Strict("ok", 2)) == Strict("ok", 2)


def test_dataclasses_and_pydantic_models_become_masked_dicts() -> None:
    """Dataclass instances and pydantic models are masked field by field."""

    @dataclasses.dataclass
    class Login:
        user: str
        password: str

    class Card(pydantic.BaseModel):
        holder: str
        card_number: str
        note: str

    original = Login("ada", "hunter2")
    assert mask(original) == {"user": "ada", "password": "***"}
    assert original.password == "hunter2"
    card = Card(holder="ada", card_number="4111111111111111", note="cvv=123")
    assert mask(card) == {"holder": "ada", "card_number": "***", "note": "cvv=***"}
    assert mask({"login": original}) == {"login": {"user": "ada", "password": "***"}}


def test_set_holding_a_dataclass_falls_back_to_a_list() -> None:
    """A set whose elements turn into dicts becomes a list instead of failing."""

    @dataclasses.dataclass(frozen=True)
    class Key:
        token: str

    assert mask({Key("t")}) == [{"token": "***"}]


def test_non_string_keys_and_scalars_are_safe() -> None:
    """Integer, tuple and None keys are kept; scalars pass through unchanged."""
    import datetime
    import decimal
    import enum
    import uuid

    class Color(enum.Enum):
        RED = "password=red"

    now = datetime.datetime(2026, 1, 1)
    value = {1: "password=x", (1, 2): "ok", None: 3.5, "when": now, "n": decimal.Decimal(1)}
    value["id"] = uuid.UUID(int=1)
    value["color"] = Color.RED
    masked = mask(value)
    assert masked[1] == "password=***"
    assert masked[(1, 2)] == "ok"
    assert masked[None] == 3.5
    assert masked["when"] is now
    assert masked["id"] == uuid.UUID(int=1)
    assert masked["color"] is Color.RED


def test_cycles_and_deep_nesting_are_cut_with_markers() -> None:
    """A self-referencing structure is masked without recursing forever."""
    loop: list[Any] = ["password=x"]
    loop.append(loop)
    masked = mask(loop)
    assert masked == ["password=***", "<cycle>"]
    deep: Any = "leaf"
    for _ in range(100):
        deep = [deep]
    flat = mask(deep)
    depth = 0
    while isinstance(flat, list):
        flat = flat[0]
        depth += 1
    assert flat == "<max depth>"
    assert depth < 100


def test_shared_objects_that_are_not_cycles_are_masked_twice() -> None:
    """The same dict appearing twice (no cycle) is masked in both places."""
    shared = {"token": "t"}
    assert mask([shared, shared]) == [{"token": "***"}, {"token": "***"}]


def test_bytes_and_other_objects() -> None:
    """Bytes holding secrets become masked text; other objects become their masked text."""

    class Thing:
        def __str__(self) -> str:
            return "Thing(password=p)"

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert mask("password=p") == "password=***"
    assert mask(b"plain") == b"plain"
    assert mask(b"password=p") == "password=***"
    assert mask(bytearray(b"ok")) == bytearray(b"ok")
    assert mask(Thing()) == "Thing(password=***)"
    assert mask(Broken()) == "<unprintable Broken>"
    assert mask(ValueError("token=abc")) == "token=***"


def test_str_subclass_values_are_masked() -> None:
    """A str subclass is masked like a str."""

    class Text(str):
        pass

    assert mask([Text("password=x")]) == ["password=***"]


def test_configured_extra_keys_and_patterns() -> None:
    """configure_masking adds key words and regexes, and returns the previous masker."""
    previous = configure_masking(extra_keys=["iban", "--"], patterns=[r"ACME-\d{4}"])
    assert isinstance(previous, Masker)
    assert mask({"iban": "DE89", "user": "ticket ACME-1234"}) == {
        "iban": "***",
        "user": "ticket ***",
    }
    assert mask_text("short") == "short"
    configure_masking()
    assert mask({"iban": "DE89"}) == {"iban": "DE89"}


def test_custom_replacement_text() -> None:
    """A masker can use another replacement, for pairs, schemes, JWTs and card numbers."""
    masker = Masker(replacement="[redacted]")
    assert masker.mask_text("password=x, Bearer y, 4111111111111111") == (
        "password=[redacted], Bearer [redacted], [redacted]"
    )
    assert masker.mask_text("4111111111111112") == "4111111111111112"
    assert masker.mask({"token": 1}) == {"token": "[redacted]"}


def test_key_cache_is_bounded() -> None:
    """Classifying many distinct keys keeps the cache bounded."""
    masker = Masker()
    for index in range(masking._KEY_CACHE_LIMIT + 10):
        masker.is_sensitive_key(f"field_{index}")
    assert len(masker._key_cache) <= masking._KEY_CACHE_LIMIT


def test_structlog_processor_masks_the_event_dict() -> None:
    """masking_processor plugs into an application's own structlog chain."""
    import structlog

    out: list[Any] = []
    logger = structlog.wrap_logger(
        structlog.testing.CapturingLogger(),
        processors=[masking_processor, lambda _l, _m, e: out.append(e) or e],
    )
    logger.info("login", password="p", user="ada")
    assert out == [{"event": "login", "password": "***", "user": "ada"}]


# -- properties ---------------------------------------------------------------------------------

_secret = st.text(
    alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", min_size=8, max_size=40
).map(lambda s: f"Zq{s}")


def _luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        candidate = prefix + check
        if masking._luhn_valid(candidate):
            return candidate
    raise AssertionError("unreachable")


_card = st.text(alphabet="0123456789", min_size=12, max_size=15).map(
    lambda digits: _luhn_complete("4" + digits)
)


@settings(max_examples=200, deadline=None)
@given(secret=_secret, card=_card, sep=st.sampled_from(["", " ", "-"]))
def test_generated_secrets_never_survive_masking(secret: str, card: str, sep: str) -> None:
    """No generated secret appears anywhere in the masked copy, in any position."""
    spaced = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    value = {
        "password": secret,
        "nested": [{"api_key": secret}, (f"token={secret}",)],
        "message": f"retry with Bearer {secret} and card {spaced}",
        "jwt": f"eyJ{secret}.eyJ{secret}.{secret}",
        "query": f"/login?user=ada&password={secret}",
    }
    rendered = repr(mask(value))
    assert secret not in rendered
    assert spaced not in rendered
    assert re.sub(r"\D", "", card) not in re.sub(r"\D", "", rendered)


def test_pathological_text_is_masked_in_linear_time() -> None:
    """Many unclosed quotes or long digit runs do not make masking slow."""
    import time

    text = 'password="' * 2000 + "1" * 5000
    started = time.perf_counter()
    masked = mask_text(text)
    assert time.perf_counter() - started < 5
    assert masked.count("***") >= 1000


def test_other_mappings_become_masked_dicts() -> None:
    """Read-only and ordered mappings are masked into plain dicts; get_masker is the default."""
    from collections import OrderedDict
    from types import MappingProxyType

    assert mask(MappingProxyType({"token": "t", "a": 1})) == {"token": "***", "a": 1}
    assert mask(OrderedDict(secret="s")) == {"secret": "***"}
    assert masking.get_masker().mask_text("password=x") == "password=***"
