"""The committed notebooks read as a teacher would hand them out: one time per lesson, no placeholders, and no
leftovers in the stored outputs (machine paths, cache waiting messages, NaN, widgets whose state was not saved)."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
LESSONS = [path for path in NOTEBOOKS if re.match(r"\d\d_", path.name)]
LEFTOVERS = {
    "a machine's path": re.compile(r"(/root/|/home/\w+|/Users/\w+|/tmp/|C:\\\\Users|(?<![\w.~])/(?:[\w.-]+/)+diffaug_lessons/)"),
    "the cache's waiting message": re.compile(r"another process is training|waiting for it to finish"),
    "a NaN": re.compile(r"(?<![\w.])(nan|NaN)(?![\w])"),
    "a placeholder": re.compile(r"\b[A-Z]+_(TEXT|LINE)\b"),
}


def _texts(output):
    if "text" in output:
        yield "".join(output["text"])
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime == "application/json":
            yield value if isinstance(value, str) else "".join(value) if isinstance(value, list) else json.dumps(value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_outputs_hold_no_leftovers(path):
    nb = json.loads(path.read_text())
    states = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    saved = set(states.get("state", {}))
    for index, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        assert not LEFTOVERS["a placeholder"].search(source), f"{path.name} cell {index}: a placeholder left in"
        for output in cell.get("outputs", []):
            for text in _texts(output):
                for what, pattern in LEFTOVERS.items():
                    found = pattern.search(text)
                    near = text[max(0, found.start() - 60):found.end() + 40] if found else ""
                    assert not found, f"{path.name} cell {index} shows {what}: {near!r}"
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view is not None:
                assert view["model_id"] in saved, f"{path.name} cell {index}: a widget whose state was not saved"


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.name)
def test_every_lesson_states_its_time_once(path):
    cells = json.loads(path.read_text())["cells"]
    header = "".join(cells[0]["source"])
    assert len(re.findall(r"^\*\*Time", header, flags=re.M)) == 1, f"{path.name}: the header states no time"
    rest = "\n".join("".join(cell["source"]) for cell in cells[1:])
    stray = re.findall(r"about \d+(?:\.\d+)? (?:min|minutes|s)\b", rest)
    assert not stray, f"{path.name} states a time outside its header: {stray}"
