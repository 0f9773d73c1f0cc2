"""Error helpers: every refusal names the bad value and the valid choices."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def choice_error(what: str, value: object, choices: Iterable[str]) -> ValueError:
    """A ValueError for ``value`` not among ``choices``, suggesting the closest one."""
    choices = list(choices)
    message = f"unknown {what} {value!r}; choose from {', '.join(choices)}"
    text = str(value).lower()
    close = difflib.get_close_matches(text, choices, n=1) or [c for c in choices if text and c.startswith(text)][:1]
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return ValueError(message)


def check_choice(what: str, value: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise :func:`choice_error`."""
    choices = list(choices)
    if value not in choices:
        raise choice_error(what, value, choices)
    return value


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if ``low <= value <= high``, else raise a ValueError naming it."""
    if not (low <= value <= high):  # also refuses NaN
        raise ValueError(f"{name} must be in [{low}, {high}]; got {value!r}")
    return value
