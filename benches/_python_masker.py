"""The pure-Python text masker of rfs-monitoring 0.1 (before masking moved to the Rust core),
kept as the benchmarks' same-process baseline. Backtracking regular expressions, applied one
after the other: quadratic on some hostile inputs (``"eyJ-" * n``)."""

from __future__ import annotations

import re

from rfs_monitoring.masking import is_sensitive_key

REPLACEMENT = "***"

_JWT = r"\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"
# "Bearer x" in any case; "Basic"/"Token" (HTTP auth schemes that are also English words) only
# when capitalised and followed by something credential-shaped, so "the token expired" stays.
_SCHEME_CREDENTIAL = (
    r"(?:\b([Bb]earer|BEARER)\s+)[A-Za-z0-9._~+/=-]+"
    r"|(?:\b(Basic|Token)\s+)(?=[A-Za-z0-9._~+/=-]*(?:\d|[+/=]|[a-z][A-Z]))[A-Za-z0-9._~+/=-]{8,}"
)
_CARD_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# "key=value", "key: value", '"key": "value"': the key decides (through `is_sensitive_key`).
# Keys and values are matched separately so that "user: password=x" still finds "password=".
_KEY_SEPARATOR = re.compile(r"([\"']?)([A-Za-z][\w.-]{0,63})\1(\s*[=:]\s*)")
# Quoted values are bounded so that many unclosed quotes cannot make masking quadratic; an
# unclosed quote falls back to the unquoted form.
_VALUE = re.compile(
    r"(?i:bearer|basic|token)\s+\S+|\"[^\"]{0,512}\"|'[^']{0,512}'|[\"']?[^\s,;&\"'}\])]+"
)
# A run of 13 digits (spaces or dashes allowed) is the least a card number needs.
_DIGIT_RUN = re.compile(r"\d[\d -]{11}")


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


def _mask_card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = text.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and _luhn_valid(digits):
        return REPLACEMENT
    return text


def _may_hold_secret(text: str) -> bool:
    # Plain substring tests cost tens of nanoseconds; the common short, clean message (an error
    # text such as "user not found") leaves here without running any regular expression.
    if "=" in text or ":" in text or "eyJ" in text:
        return True
    lower = text.lower()
    if "bearer" in lower or "basic" in lower or "token" in lower:
        return True
    return len(text) >= 13 and _DIGIT_RUN.search(text) is not None


class PythonTextMasker:
    """``mask_text`` as it was: JWTs, auth schemes, sensitive ``key=value`` pairs, Luhn cards."""

    replacement = REPLACEMENT
    patterns: tuple[re.Pattern[str], ...] = ()

    def __init__(self) -> None:
        self._scheme = re.compile(_SCHEME_CREDENTIAL)
        self._jwt = re.compile(_JWT)

    def is_sensitive_key(self, key: str) -> bool:
        return is_sensitive_key(key)

    def mask_text(self, text: str) -> str:
        """``text`` with every secret it holds replaced.

        >>> Masker().mask_text('{"token": "abc", "user": "ada"}')
        '{"token": "***", "user": "ada"}'
        """
        if not self.patterns and not _may_hold_secret(text):
            return text
        rep = self.replacement
        out = self._jwt.sub(rep, text)
        out = self._scheme.sub(lambda m: f"{m.group(1) or m.group(2)} {rep}", out)
        out = self._mask_pairs(out)
        out = _CARD_CANDIDATE.sub(_mask_card, out)
        for pattern in self.patterns:
            out = pattern.sub(rep, out)
        return out

    def _mask_pairs(self, text: str) -> str:
        parts: list[str] = []
        done = 0
        for match in _KEY_SEPARATOR.finditer(text):
            if match.start() < done or not self.is_sensitive_key(match.group(2)):
                continue
            value = _VALUE.match(text, match.end())
            if value is None:
                continue
            found = value.group(0)
            if len(found) >= 2 and found[0] == found[-1] and found[0] in "\"'":
                masked = f"{found[0]}{self.replacement}{found[0]}"
            else:
                masked = self.replacement
            parts.append(text[done : match.end()])
            parts.append(masked)
            done = value.end()
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)
