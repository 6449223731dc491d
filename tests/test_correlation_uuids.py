"""Request IDs that are UUIDs are kept (issue #13 §1): about one random UUID in 500 holds a run
of 13 to 19 decimal digits that passes the Luhn check, which the card-number masking rule took
for a card, so `is_valid_correlation_id` refused it and a client's ``X-Request-ID`` was replaced.
Digits inside a UUID (``8-4-4-4-12`` hexadecimal, or 32 hexadecimal) are an identifier's now;
cards, beside a UUID or alone, are still masked."""

from __future__ import annotations

import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from rfs_monitoring import _core
from rfs_monitoring.context import (
    correlation_id_from_headers,
    is_valid_correlation_id,
    new_correlation_id,
)
from rfs_monitoring.masking import mask_text

# Real UUID4s the card rule masked (found by masking a million uuid4()s).
REFUSED_BEFORE = [
    "d3758266-4760-448f-aeaa-3e5530781d06",
    "ecdc082d-dc77-497e-8128-895337609cb3",
    "98fd20b8-e0e0-4424-8222-50179f7e3f23",
    "a0e5d824-9767-4018-9019-27167c909157",
    "40e8dc2575754836871c215e771a63b8",
    "032949186826434f9b408039b064e757",
    "f6d2e8dd3af14e91a8a9353985881048",
]


def _forms(value: uuid.UUID) -> list[str]:
    text = str(value)
    return [text, value.hex, text.upper(), value.hex.upper()]


def test_the_uuids_the_card_rule_took_are_kept() -> None:
    for text in REFUSED_BEFORE:
        assert mask_text(text) == text
        assert is_valid_correlation_id(text), text
        assert correlation_id_from_headers({"X-Request-ID": text}) == text
        assert is_valid_correlation_id(f"req-{text}")


def test_every_uuid_of_a_large_sample_is_a_valid_id() -> None:
    """50,000 random UUIDs in four spellings: before, about 0.2% of them were refused."""
    rng = random.Random(13)
    refused = [
        text
        for _ in range(50_000)
        for text in _forms(uuid.UUID(int=rng.getrandbits(128), version=4))
        if not is_valid_correlation_id(text)
    ]
    assert refused == []


@settings(max_examples=2_000, deadline=None)
@given(st.uuids())
def test_any_uuid_is_a_valid_id(value: uuid.UUID) -> None:
    for text in _forms(value):
        assert _core.mask_text(text) == text
        assert is_valid_correlation_id(text)


def test_the_ids_the_package_generates_are_valid_by_its_own_rule() -> None:
    ids = [new_correlation_id() for _ in range(50_000)]
    assert all(is_valid_correlation_id(cid) for cid in ids)
    assert len(set(ids)) == len(ids)


@settings(max_examples=300, deadline=None)
@given(
    st.uuids(), st.sampled_from(["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111"])
)
def test_a_card_beside_a_uuid_is_still_masked(value: uuid.UUID, card: str) -> None:
    for text in (f"{value} paid with {card}", f"card {card} request {value.hex}"):
        masked = mask_text(text)
        assert card not in masked
        assert str(value) in masked or value.hex in masked


def test_secrets_that_look_like_hex_are_still_masked() -> None:
    """Key context, auth schemes and tokens mask a UUID-shaped secret as before; only the card
    rule leaves digits inside a UUID alone."""
    secret = "d3758266-4760-448f-aeaa-3e5530781d06"
    assert mask_text(f"password={secret}") == "password=***"
    assert mask_text(f"Authorization: Bearer {secret}") == "Authorization: ***"
    assert mask_text(f"/hook?token={secret}&x=1") == "/hook?token=***&x=1"
    # A longer hex word is no UUID: its card-like digits are masked as before.
    assert "***" in mask_text("40e8dc2575754836871c215e771a63b8a")
