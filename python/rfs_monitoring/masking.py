"""Masking of secrets in everything rfs-monitoring emits: log entries, span attributes, metrics.

`mask` returns a masked deep copy of any value and never mutates its input; `mask_text` masks
secrets inside free text. Both are on by default for every emitter in this package.

What is masked:

- values under sensitive keys (password, passwd, secret, token, api_key, apikey, authorization,
  auth, cookie, session, credential, private_key, card_number, cvv, ssn, and extras added with
  `configure_masking`), whatever the value is;
- inside text, in time linear in its length (the rules run in the Rust core, on the `regex`
  crate's finite automata): JWTs, ``Bearer ...`` / ``Basic ...`` credentials, ``password=...``
  (and every sensitive key followed by ``=`` or ``:``; after a password-like key the whole
  passphrase up to the end of the line or a delimiter), card numbers that pass the Luhn check
  (with or without spaces or dashes, also right after a letter or a dash), PEM private key
  blocks, URL passwords (``postgres://user:***@host``), credential query parameters
  (``?key=``, ``sig=``, ``X-Amz-Signature=``, ``access_token=``...), Slack and Discord webhook
  URLs, token formats (AWS access key IDs, GitHub, GitLab, Slack, Stripe, ``sk-`` API keys,
  Google API keys, npm, SendGrid, Hugging Face), long opaque high-entropy tokens (32 or more
  base64 characters mixing cases and digits; hexadecimal runs such as UUIDs, trace IDs and
  hashes are left alone), and extra regular expressions from `configure_masking` (these run in
  Python, after the built-in rules).

>>> mask({"user": "ada", "password": "hunter2", "card": "4111 1111 1111 1111"})
{'user': 'ada', 'password': '***', 'card': '***'}
>>> mask_text("login failed for ada: password=hunter2")
'login failed for ada: password=***'
>>> mask_text("calling upstream with Bearer abc.def-123")
'calling upstream with Bearer ***'
>>> mask_text("order 4111-1111-1111-1112 is not a valid card")  # fails the Luhn check
'order 4111-1111-1111-1112 is not a valid card'
>>> mask_text("connect postgres://app:s3cret@db/app; password: correct horse battery staple")
'connect postgres://app:***@db/app; password: ***'

Containers are rebuilt: dicts, lists, tuples (named tuples keep their type), sets and frozensets
keep their kind; dataclass instances and pydantic models become dicts of their (masked) fields,
which is what a log line shows of them. Other objects become their masked text. Cycles and very
deep nesting are cut with a marker instead of recursing forever.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rfs_monitoring import _core

__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "REPLACEMENT",
    "Masker",
    "configure_masking",
    "echo",
    "get_masker",
    "is_sensitive_key",
    "mask",
    "mask_code",
    "mask_text",
    "masking_processor",
]

REPLACEMENT: str = _core.REPLACEMENT
"""What a masked value is replaced with."""

DEFAULT_SENSITIVE_KEYS: frozenset[str] = frozenset(_core.DEFAULT_SENSITIVE_KEYS)
"""Key words (lowercase, without separators) whose values are always masked (the Rust core's
list: one policy for Python and Rust)."""

# Long key words (six letters or more) are matched anywhere in a normalised key ("x-api-key",
# "client_secret"); short ones only as a whole word, so "classname" (which contains "ssn") or
# "author" stay visible. The classification is the Rust core's, shared with the text rules.
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

_MAX_DEPTH = 32
_CYCLE = "<cycle>"
_TOO_DEEP = "<max depth>"
_KEY_CACHE_LIMIT = 4096

_ERROR_CODE_MAX = 128
"""Characters of an error code kept after masking (codes are identifiers, not messages)."""

_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})
_SAFE_SCALARS = (
    int,
    float,
    bool,
    type(None),
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
)


def _luhn_valid(digits: str) -> bool:
    total = 0
    parity = len(digits) % 2
    for index, char in enumerate(digits):
        digit = ord(char) - 48
        if index % 2 == parity:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


class Masker:
    """A masking policy: sensitive key words plus value patterns.

    The module functions `mask` and `mask_text` use the process-wide masker set by
    `configure_masking`; build a `Masker` directly for a policy of your own.

    >>> m = Masker(extra_keys=["iban"], patterns=[r"ACME-\\d{6}"])
    >>> m.mask({"iban": "DE89 3704", "note": "ticket ACME-123456"})
    {'iban': '***', 'note': 'ticket ***'}
    """

    def __init__(
        self,
        *,
        extra_keys: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
        replacement: str = REPLACEMENT,
    ) -> None:
        self.replacement = replacement
        self.keys: frozenset[str] = DEFAULT_SENSITIVE_KEYS | {
            _NON_ALNUM.sub("", k.lower()) for k in extra_keys if _NON_ALNUM.sub("", k.lower())
        }
        # The text rules and the key classification live in the Rust core (one policy for both).
        self._text = _core.TextMasker(sorted(self.keys), replacement)
        self.patterns: tuple[re.Pattern[str], ...] = tuple(
            p if isinstance(p, re.Pattern) else re.compile(p) for p in patterns
        )
        # No lock: dict reads and writes are atomic, and a race between two writers at the
        # limit only clears the cache twice. (A lock could also be copied held into a forked
        # child, which would then hang on its first masked key.)
        self._key_cache: dict[str, bool] = {}

    def is_sensitive_key(self, key: str) -> bool:
        """Whether values under ``key`` are masked whatever they hold.

        >>> m = Masker()
        >>> [m.is_sensitive_key(k) for k in ("X-Api-Key", "accessToken", "author", "classname")]
        [True, True, False, False]
        """
        cached = self._key_cache.get(key)
        if cached is not None:
            return cached
        result = self._classify_key(key)
        if len(self._key_cache) >= _KEY_CACHE_LIMIT:
            self._key_cache.clear()
        self._key_cache[key] = result
        return result

    def _classify_key(self, key: str) -> bool:
        return self._text.is_sensitive_key(key)

    def mask_text(self, text: str) -> str:
        """``text`` with every secret it holds replaced, in time linear in its length.

        >>> Masker().mask_text('{"token": "abc", "user": "ada"}')
        '{"token": "***", "user": "ada"}'
        """
        out = self._text.mask(text)
        for pattern in self.patterns:
            out = pattern.sub(self.replacement, out)
        return out

    def mask_code(self, code: str) -> str:
        """An error code fit for a log field, a span attribute and a metric label: masked like
        text, then cut to 128 characters (masking first, so no cut leaves part of a secret).

        >>> Masker().mask_code("NOT_FOUND")
        'NOT_FOUND'
        >>> Masker().mask_code("ghp_0123456789abcdefghijABCDEFGHIJ012345")
        '***'
        """
        masked = self.mask_text(code)
        return masked if len(masked) <= _ERROR_CODE_MAX else masked[:_ERROR_CODE_MAX]

    def mask(self, value: Any) -> Any:
        """A masked deep copy of ``value``; ``value`` itself is never changed.

        >>> data = {"items": [{"secret": 1}], 7: ("token=x",)}
        >>> Masker().mask(data)
        {'items': [{'secret': '***'}], 7: ('token=***',)}
        >>> data
        {'items': [{'secret': 1}], 7: ('token=x',)}
        """
        if type(value) is str:
            return self.mask_text(value)
        return self._mask(value, set(), 0)

    def _mask(self, value: Any, active: set[int], depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self.mask_text(value)
        if kind in _PLAIN_SCALARS:
            return value
        if kind is dict and depth < _MAX_DEPTH and id(value) not in active:
            active.add(id(value))
            try:
                return self._mask_mapping(value.items(), active, depth + 1)
            finally:
                active.discard(id(value))
        if isinstance(value, str):
            return self.mask_text(str(value)) if not isinstance(value, enum.Enum) else value
        if isinstance(value, (*_SAFE_SCALARS, enum.Enum)):
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            text = bytes(value).decode("latin-1")
            masked = self.mask_text(text)
            return value if masked == text else masked
        if depth >= _MAX_DEPTH:
            return _TOO_DEEP
        marker = id(value)
        if marker in active:
            return _CYCLE
        active.add(marker)
        try:
            return self._mask_container(value, active, depth + 1)
        finally:
            active.discard(marker)

    def _mask_container(self, value: Any, active: set[int], depth: int) -> Any:
        if isinstance(value, Mapping):
            return self._mask_mapping(value.items(), active, depth)
        if isinstance(value, list):
            return [self._mask(item, active, depth) for item in value]
        if isinstance(value, tuple):
            items = [self._mask(item, active, depth) for item in value]
            if hasattr(value, "_fields"):
                try:
                    return type(value)(*items)
                except Exception:  # a named tuple with a custom __new__: keep the data
                    return tuple(items)
            return tuple(items)
        if isinstance(value, set | frozenset):
            masked = [self._mask(item, active, depth) for item in value]
            try:
                return frozenset(masked) if isinstance(value, frozenset) else set(masked)
            except TypeError:  # an element became unhashable (a dataclass turned into a dict)
                return masked
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            pairs = [(f.name, getattr(value, f.name, None)) for f in dataclasses.fields(value)]
            return self._mask_mapping(pairs, active, depth)
        dumped = _pydantic_fields(value)
        if dumped is not None:
            return self._mask_mapping(dumped.items(), active, depth)
        try:
            text = str(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"
        return self.mask_text(text)

    def _mask_mapping(
        self, items: Iterable[tuple[Any, Any]], active: set[int], depth: int
    ) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        rep = self.replacement
        for key, item in items:
            if isinstance(key, str) and self.is_sensitive_key(key):
                out[key] = rep
            else:
                out[key] = self._mask(item, active, depth)
        return out


def _pydantic_fields(value: Any) -> dict[str, Any] | None:
    # Importing pydantic costs tens of milliseconds: only look when the application already has.
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(value, pydantic.BaseModel):
        return None
    return {name: getattr(value, name, None) for name in type(value).model_fields}


_default = Masker()


def get_masker() -> Masker:
    """The process-wide masker used by `mask`, `mask_text` and every emitter."""
    return _default


def configure_masking(
    *,
    extra_keys: Iterable[str] = (),
    patterns: Iterable[str | re.Pattern[str]] = (),
    replacement: str = REPLACEMENT,
) -> Masker:
    """Replace the process-wide policy: the default keys plus ``extra_keys``, the built-in text
    rules plus ``patterns`` (each match is replaced). Returns the previous masker.

    >>> previous = configure_masking(extra_keys=["iban"])
    >>> mask({"IBAN": "DE89 3704 0044"})
    {'IBAN': '***'}
    >>> _ = configure_masking()  # back to the defaults
    """
    global _default
    previous = _default
    _default = Masker(extra_keys=extra_keys, patterns=patterns, replacement=replacement)
    return previous


def mask(value: Any) -> Any:
    """A masked deep copy of ``value`` with the process-wide policy (see the module docs).

    >>> mask(["ok", {"api_key": "k-123"}])
    ['ok', {'api_key': '***'}]
    """
    return _default.mask(value)


def mask_text(text: str) -> str:
    """``text`` with every secret it holds replaced, with the process-wide policy.

    >>> mask_text("token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
    'token: ***'
    """
    return _default.mask_text(text)


def mask_code(code: str) -> str:
    """An error code masked with the process-wide policy and cut to 128 characters.

    >>> mask_code("E42"), mask_code("token=abc")
    ('E42', 'token=***')
    """
    return _default.mask_code(code)


def echo(value: object, limit: int = 40) -> str:
    """How an error message quotes a caller's input: masked first, then cut to ``limit``
    characters (so no cut leaves part of a secret), as a ``repr``.

    >>> echo("1h"), echo("token=abc"), echo("x" * 100, limit=5)
    ("'1h'", "'token=***'", "'xxxxx'...")
    """
    text = value if isinstance(value, str) else repr(value)
    masked = _default.mask_text(text)
    if len(masked) <= limit:
        return repr(masked)
    return repr(masked[:limit]) + "..."


def masks_error_codes(code_of: Callable[[Any], str]) -> Callable[[Any], str]:
    """Decorates the one function that names error codes, so every output (log ``error_code``,
    span ``error.type``, top errors, Prometheus labels) gets the masked code.

    >>> masks_error_codes(lambda error: str(error))("password=x")
    'password=***'
    """

    @functools.wraps(code_of)
    def masked(error: Any) -> str:
        return _default.mask_code(code_of(error))

    return masked


def is_sensitive_key(key: str) -> bool:
    """Whether the process-wide policy masks every value under ``key``.

    >>> is_sensitive_key("client_secret"), is_sensitive_key("user_id")
    (True, False)
    """
    return _default.is_sensitive_key(key)


def masking_processor(logger: Any, method_name: str, event_dict: Any) -> Any:
    """A structlog processor that masks the whole event dict, for an application's own chain.

    >>> masking_processor(None, "info", {"event": "login", "password": "x"})
    {'event': 'login', 'password': '***'}
    """
    return _default.mask(event_dict)
