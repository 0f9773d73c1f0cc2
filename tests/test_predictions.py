"""The lessons' predictions: every question has its answer in the package, and no notebook spells one out."""

import ast
import json
from pathlib import Path

import pytest

from diffaug_lessons.predictions import ANSWERS, answer
from diffaug_lessons.widgets import LETTERS, predict

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def predict_calls():
    """(notebook, name, number of choices) of every predict(...) call in the notebooks' code cells."""
    found = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "predict":
                    name, _question, choices = node.args
                    found.append((path.name, ast.literal_eval(name), len(choices.elts)))
    return found


def test_every_prediction_of_the_notebooks_has_its_answer_among_its_choices():
    calls = predict_calls()
    assert len(calls) >= 10
    for notebook, name, n_choices in calls:
        assert name in ANSWERS, f"{notebook}: prediction {name!r} has no answer in diffaug_lessons/predictions.py"
        assert LETTERS.index(ANSWERS[name].answer) < n_choices, f"{notebook}: {name}'s answer is not one of its choices"
        assert name.startswith(notebook[:2]), f"{notebook}: {name} is named after another lesson"
    names = [name for _, name, _ in calls]
    assert sorted(names) == sorted(ANSWERS), "every answer belongs to exactly one notebook question"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_notebook_spells_out_an_answer(path):
    """Neither a cell's source nor a stored output (GitHub and other viewers show both) holds an explanation."""
    text = path.read_text()
    for name, known in ANSWERS.items():
        assert json.dumps(known.explanation[:40])[1:-1] not in text, f"{path.name} spells out the answer to {name}"
    assert "answer=" not in text


def test_the_widget_shows_the_answer_only_after_a_choice_is_checked():
    question = predict("04-lowest-fid", "Which strategy will reach the lowest FID?", ["a", "b", "c", "d"])
    shown = [question.feedback.value, question.widget.children[0].value, str(question.options.options),
             question._repr_mimebundle_()["text/plain"]]
    assert not any(ANSWERS["04-lowest-fid"].explanation[:30] in part for part in shown)
    question.options.value = 3
    assert question.check() is True and ANSWERS["04-lowest-fid"].explanation[:30] in question.feedback.value


def test_an_unknown_prediction_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown prediction name '04-lowest'; choose from 00-fill-colour.*did you mean"):
        answer("04-lowest")
    with pytest.raises(ValueError, match="unknown prediction name"):
        predict("nope", "Which?", ["a", "b"])
