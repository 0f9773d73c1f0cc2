"""The exercises' solutions: each passes its checker, and no notebook shows a solution's code."""

import json
from pathlib import Path

import pytest

from diffaug_lessons import checks, solutions
from diffaug_lessons.widgets import Solution, solution

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
VERDICTS = {
    "00-brightness": checks.brightness_verdict, "00-translation": checks.translation_verdict,
    "00-cutout": checks.cutout_verdict, "01-d-gap": checks.d_gap_verdict, "02-saturation": checks.saturation_verdict,
    "02-contrast": checks.contrast_verdict, "03-train-step": checks.train_step_verdict,
    "04-differentiable-t": checks.differentiable_verdict, "05-policy": checks.policy_verdict,
    "06-ada-update": checks.ada_update_verdict, "07-conditional-d-loss": checks.conditional_d_loss_verdict,
    "08-novelty": checks.novelty_verdict,
}


def test_every_solution_has_a_checker():
    assert set(VERDICTS) == set(solutions.SOLUTIONS)


@pytest.mark.parametrize("name", sorted(solutions.SOLUTIONS))
def test_every_solution_passes_its_checker(name):
    verdict = VERDICTS[name](solutions.get(name))
    assert verdict.ok, f"the solution {name} no longer passes its checker: {verdict}"


@pytest.mark.parametrize("name", ["00-brightness", "05-policy"])
def test_a_wrong_solution_fails_the_same_checker(name):
    assert not VERDICTS[name](lambda x, *args: x).ok


def test_every_solution_is_asked_for_by_one_notebook_cell_and_its_code_is_in_none():
    asked = []
    for path in NOTEBOOKS:
        text = path.read_text()
        for name, function in solutions.SOLUTIONS.items():
            assert f"def {function.__name__}(" not in text, f"{path.name} shows the code of {name}"
        for cell in json.loads(text)["cells"]:
            source = "".join(cell["source"])
            asked += [name for name in solutions.SOLUTIONS if f'solution("{name}")' in source]
    assert sorted(asked) == sorted(solutions.SOLUTIONS)


def test_the_solution_widget_hides_the_code_until_pressed():
    panel = Solution("02-contrast")
    assert panel.code.value == "" and "is hidden" in panel._repr_mimebundle_()["text/plain"]
    panel.button.click()
    assert "def solution_contrast(x, factor):" in panel.code.value and panel.button.layout.display == "none"
    assert solution("02-contrast") is solutions.solution_contrast
    with pytest.raises(ValueError, match="unknown solution name 'nope'; choose from 00-brightness"):
        solution("nope")
