"""The notebooks' outputs that do not depend on training are compared by CI, not only executed.

`make test` runs the notebooks with ``pytest --nbval-lax``: a cell's new output is compared with the
committed one only where the cell is marked ``# NBVAL_CHECK_OUTPUT`` (what varies between runs is
sanitised by notebooks/nbval_sanitize.cfg). These tests keep the markers where they matter: a solution
that stops passing its checker, or a prediction whose text changes, then fails CI.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# NBVAL_CHECK_OUTPUT"
# Marked by whoever is editing these lessons now; take a notebook out of this set once it is marked.
NOT_YET_MARKED: set[str] = set()
NOTEBOOKS = sorted(path for path in (ROOT / "notebooks").glob("*.ipynb") if path.name not in NOT_YET_MARKED)


def code_cells(path):
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def source(cell):
    return "".join(cell["source"])


def is_marked(cell):
    return any(line.strip() == MARKER for line in source(cell).splitlines())


def plain_texts(cell):
    return ["".join(output.get("data", {}).get("text/plain", "")) for output in cell["outputs"]]


def test_the_not_yet_marked_notebooks_exist():
    assert NOT_YET_MARKED <= {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_has_a_checked_cell(path):
    assert any(is_marked(cell) for cell in code_cells(path)), f"{path.name}: no cell is marked {MARKER}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_solution_and_prediction_cell_is_checked(path):
    """A solution's verdict and a prediction's text come from the package alone: the same in every run."""
    for number, cell in enumerate(code_cells(path)):
        if re.search(r"\b(solution|predict)\(\"", source(cell)):
            assert is_marked(cell), f"{path.name}, code cell {number}: mark it {MARKER}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_the_committed_verdict_of_every_solution_is_correct(path):
    """nbval compares with the committed output: a notebook saved with a failing verdict would pass it."""
    for number, cell in enumerate(code_cells(path)):
        if re.search(r"\bsolution\(\"", source(cell)):
            verdicts = [text for text in plain_texts(cell) if text.startswith(("correct:", "not yet:"))]
            assert verdicts and all(text.startswith("correct:") for text in verdicts), (
                f"{path.name}, code cell {number}: the committed verdicts are {verdicts}")


def test_make_test_sanitises_with_the_notebooks_rules():
    assert (ROOT / "notebooks" / "nbval_sanitize.cfg").is_file()
    test_command = [line for line in (ROOT / "Makefile").read_text().splitlines() if "pytest" in line and "--nbval" in line]
    assert test_command and all("--nbval-sanitize-with notebooks/nbval_sanitize.cfg" in line for line in test_command)
