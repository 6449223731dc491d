"""How a returned value or a raised exception is classified, shared by logging and metrics.

A `Failure` is an error exactly like a raised exception: this module names both the same way, so
a log entry, a metric sample and a span agree on ``error_type`` and ``error_code``.

>>> from rfs_monitoring.result import Failure
>>> error_code_of(KeyError("k")), error_type_of(KeyError("k"))
('KeyError', 'KeyError')
>>> class Coded:
...     code = "E42"
>>> error_code_of(Coded())
'E42'
>>> error_code_of("plain text")
'str'
>>> error_message_of(ValueError("bad input"))
'bad input'
"""

from __future__ import annotations

import enum
from typing import Any

from rfs_monitoring.masking import masks_error_codes

__all__ = ["error_code_of", "error_message_of", "error_type_of"]


def error_type_of(error: Any) -> str:
    """The class name of an error value."""
    return type(error).__name__


@masks_error_codes  # a code leaves the process in logs, spans and labels: masked here, once
def error_code_of(error: Any) -> str:
    """A stable code for an error: its ``code`` attribute (an enum's value or name, or any
    non-empty value's text), else its class name.

    ``ErrorCode`` members are ``str`` enums whose values equal their names, so an `APIError` is
    classified by its code, such as ``"NOT_FOUND"``.
    """
    code = getattr(error, "code", None)
    if isinstance(code, enum.Enum):
        return code.value if isinstance(code.value, str) else code.name
    if code is not None and not isinstance(code, bool) and str(code):
        return str(code)
    return type(error).__name__


def error_message_of(error: Any) -> str:
    """The human text of an error, unmasked: ``message`` when it has one, else ``str(error)``.

    Callers mask it before it leaves the process.
    """
    message = getattr(error, "message", None)
    if isinstance(message, str) and message:
        return message
    try:
        text = str(error)
    except Exception:  # a broken __str__ must not break the observed service
        return f"<unprintable {type(error).__name__}>"
    return text or type(error).__name__
