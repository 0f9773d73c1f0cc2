"""Where the package keeps its files and how big its runs are.

Two environment variables steer every lesson:

- ``DIFFAUG_LESSONS_HOME``: the folder for downloaded data, feature networks and
  saved runs (default ``~/.cache/diffaug_lessons``).
- ``DIFFAUG_LESSONS_QUICK``: set to ``1`` to shrink every preset so that all
  notebooks execute in a few minutes (CI uses it); unset or ``0`` for full runs.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "DIFFAUG_LESSONS_HOME"
QUICK_ENV = "DIFFAUG_LESSONS_QUICK"


def home() -> Path:
    """The package's cache folder (created on first use)."""
    path = Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "diffaug_lessons").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def shown(path: str | Path) -> str:
    """``path`` as a lesson prints it: under the user's home folder as ``~/...`` (a notebook's stored output
    then names no one's machine)."""
    path, user_home = Path(path), Path.home()
    try:
        return str(Path("~") / path.relative_to(user_home))
    except ValueError:
        return str(path)


def shown_text(text: str) -> str:
    """``text`` (an error message, say) with the user's home folder written ``~``, as :func:`shown` does."""
    return text.replace(str(Path.home()), "~")


def data_dir() -> Path:
    """Where downloaded datasets are kept."""
    path = home() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def quick_mode() -> bool:
    """True when ``DIFFAUG_LESSONS_QUICK`` asks for the shrunk CI-sized presets."""
    value = os.environ.get(QUICK_ENV, "0").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{QUICK_ENV}={value!r} is not understood; use 1 (quick) or 0 (full)")
