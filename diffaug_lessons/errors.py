"""Error helpers: every refusal names the bad value and the valid choices."""

from __future__ import annotations

import difflib
import math
import numbers
import reprlib
from collections.abc import Iterable

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


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
    """Return ``value`` if it is a number with ``low <= value <= high``, else raise a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (low <= value <= high):  # refuses NaN
        raise ValueError(f"{name} must be in [{low}, {high}]; got {value!r}")
    return value


def check_number(
    name: str, value: object, kind: type, low: float, high: float, *, low_open: bool = False, optional: bool = False
) -> None:
    """Refuse ``value`` unless it is a ``kind`` (int or float) in [low, high] (or (low, high] with ``low_open``).

    Refuses booleans, strings, NaN and infinities with a message naming the value and the valid range;
    ``optional`` also accepts None.
    """
    if value is None and optional:
        return
    interval = f"{'(' if low_open else '['}{_number(low)}, {_number(high)}]"
    what = "an integer" if kind is int else "a number"
    expected = numbers.Integral if kind is int else numbers.Real
    ok = not isinstance(value, bool) and isinstance(value, expected)
    if ok:
        ok = math.isfinite(value) and (low < value if low_open else low <= value) and value <= high
    if not ok:
        raise ValueError(f"{name} must be {what} in {interval}{' (or None)' if optional else ''}; got {value!r}")


def check_kind(name: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    """Refuse ``value`` unless it is a ``kind``, with a ValueError naming ``name``, the value and ``what``
    (the valid kind in words: "a TrainConfig", "a string")."""
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be {what}; got {short_repr(value)}")


def short_repr(value: object) -> str:
    """``repr(value)`` cut to a readable length; an array or tensor by its type and shape (an error message
    quoting a whole tensor or list helps nobody)."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):  # torch.Size is a tuple too
        return f"a {type(value).__name__} of shape {tuple(shape)}"
    return _SHORT.repr(value)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"
