"""Time the lessons as a student meets them: cold (an empty run cache) and from the cache.

    python benchmarks/lesson_times.py notebooks/08_faces_100_shot.ipynb            # cold, then cached
    python benchmarks/lesson_times.py --cached notebooks/*.ipynb                   # from your run cache only
    python benchmarks/lesson_times.py --home /tmp/lesson-cache notebooks/04*.ipynb # cold in a cache of your choice

Each notebook runs top to bottom in a fresh kernel on a copy (the committed file is not touched), in the
default (CPU) mode: "cold" with DIFFAUG_LESSONS_HOME set to an empty folder, so every run the lesson trains
trains here; "cached" right after in the same folder (or, with --cached, in your own run cache). It prints
the wall time of each, the machine's load average and core count beside them: the lessons' "Time" lines
are these figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def execute(notebook: Path, home: Path | None) -> float:
    """Run ``notebook`` (a copy) top to bottom; the wall seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    env_home = os.environ.get("DIFFAUG_LESSONS_HOME")
    os.environ.pop("DIFFAUG_LESSONS_QUICK", None)
    if home is not None:
        os.environ["DIFFAUG_LESSONS_HOME"] = str(home)
    try:
        nb = nbformat.read(notebook, as_version=4)
        client = NotebookClient(nb, timeout=7200, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        if env_home is None:
            os.environ.pop("DIFFAUG_LESSONS_HOME", None)
        else:
            os.environ["DIFFAUG_LESSONS_HOME"] = env_home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--cached", action="store_true", help="only the cached time, in your own run cache")
    parser.add_argument("--home", type=Path, help="the cache folder for the cold run (default: a new temporary one)")
    args = parser.parse_args(argv)
    print(f"{sys.executable} {' '.join(sys.argv)}")
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} before")
    for notebook in args.notebooks:
        if args.cached:
            print(f"{notebook.name}: from the cache {execute(notebook, None):.0f} s")
            continue
        home = args.home or Path(tempfile.mkdtemp(prefix="lesson-cold-"))
        if home.exists() and any(home.iterdir()) and args.home is None:
            raise SystemExit(f"{home} is not empty")
        cold = execute(notebook, home)
        cached = execute(notebook, home)
        cold_text = f"{cold:.0f} s" if cold < 120 else f"{cold / 60:.1f} min"
        print(f"{notebook.name}: cold {cold_text}, from the cache {cached:.0f} s "
              f"(load average {os.getloadavg()[0]:.2f} after)")
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
