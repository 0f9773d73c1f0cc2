"""The recipe study: its candidates, its decision rule, and a whole study in quick mode."""

import json

import pytest

from diffaug_lessons import cli, recipe
from diffaug_lessons import runs as runs_module
from diffaug_lessons.recipe import STUDIES, Candidate, Study, choose, run_study
from diffaug_lessons.reference import Reference, summary_value
from diffaug_lessons.train import lesson_config


def test_the_rule_takes_the_lowest_worst_seed_ratio():
    ratios = {"steady": [0.5, 0.55, 0.6], "lucky": [0.1, 0.2, 0.9], "bad": [1.1, 1.2, 1.3]}
    assert choose(ratios) == "steady"  # lucky's mean is lower, but one of its seeds is nearly a loss


def test_a_tie_on_the_worst_seed_goes_to_the_lower_mean_then_the_earlier_candidate():
    assert choose({"a": [0.60, 0.60], "b": [0.2, 0.64]}) == "b"  # within 0.05 of the lowest worst: tied
    assert choose({"a": [0.60, 0.60], "b": [0.2, 0.66]}) == "a"  # 0.06 above: not tied
    assert choose({"a": [0.5, 0.5], "b": [0.5, 0.5]}) == "a"
    with pytest.raises(ValueError, match="at least one seed"):
        choose({"a": []})


@pytest.mark.parametrize("dataset", list(STUDIES))
def test_every_candidate_has_a_reason_and_a_baseline_with_its_training_settings_but_no_t(dataset):
    study = STUDIES[dataset]
    names = [candidate.name for candidate in study.candidates]
    assert len(set(names)) == len(names) >= 3
    for candidate in study.candidates:
        assert len(candidate.reason) > 20
        configs = study.configs(candidate.name, "cpu", seed=3)
        base, diff = configs["baseline"], configs["DiffAugment"]
        assert (base.strategy, diff.strategy, base.seed, diff.seed) == ("none", "diffaugment", 3, 3)
        for name, value in {**candidate.training}.items():
            assert getattr(base, name) == getattr(diff, name) == value
        plain = study.base("cpu")
        for name in ("policy", "translation_ratio", "cutout_ratio", "color_strength", "p"):
            assert getattr(base, name) == getattr(plain, name)  # the baseline applies no T: its fields stay default
        assert diff.replace(strategy="none", **{k: getattr(plain, k) for k in candidate.t}) == base


def test_candidates_with_the_same_training_share_one_baseline():
    study = STUDIES["digits"]
    keys = {study.configs(candidate.name, "cpu")["baseline"].key() for candidate in study.candidates}
    assert keys == {lesson_config("cpu", n_train=100, strategy="none").key()}  # lesson 04's baseline


def test_an_unknown_candidate_or_dataset_is_refused_by_name():
    with pytest.raises(ValueError, match="'nope'.*translation"):
        STUDIES["digits"].configs("nope")
    with pytest.raises(ValueError, match="'cats'.*digits, faces"):
        run_study("cats", preset="quick")


def test_last_and_best_fid():
    history = [{"fid": value} for value in (50.0, 10.0, 30.0, 20.0, 40.0)]
    assert summary_value(history, "fid") == pytest.approx(30.0) and summary_value(history, "best_fid") == 10.0
    with pytest.raises(ValueError, match="no evaluation"):
        summary_value([], "fid")


@pytest.fixture
def small_study(monkeypatch):
    study = Study("digits", lambda preset: lesson_config(preset, n_train=100, steps=20, eval_every=10), (
        Candidate("translation", "the gentlest T, for the test", t=dict(policy="translation")),
        Candidate("cutout", "another T, for the test", t=dict(policy="cutout")),
    ))
    monkeypatch.setitem(STUDIES, "digits", study)
    return study


def test_a_quick_study_selects_then_confirms_on_fresh_seeds_and_writes_its_table(small_study, tmp_path, monkeypatch):
    asked = []
    train_many = runs_module.train_many

    out = tmp_path / "study.json"

    def recording(configs, **kwargs):
        seeds = sorted({config.seed for config in configs.values()})
        if seeds == [2]:  # the confirmation: the choice is already on file, without a confirmation
            on_file = json.loads(out.read_text())
            assert on_file["confirmation"] is None and on_file["chosen"] in ("translation", "cutout")
            assert "not trained yet" in recipe.report(on_file)
            assert "confirmation" not in recipe.summary_table(on_file).split("\n", 2)[2]
        asked.append(seeds)
        return train_many(configs, **kwargs)

    monkeypatch.setattr(runs_module, "train_many", recording)
    results = run_study("digits", "quick", selection_seeds=(0, 1), confirmation_seeds=(2,), out=out,
                        reference=Reference(), progress=False, workers=1)
    assert asked == [[0, 1], [2]]  # the confirmation seed trains only after the choice
    assert json.loads(out.read_text()) == results
    assert [(row["candidate"], row["seed"]) for row in results["selection"]] == [
        ("translation", 0), ("translation", 1), ("cutout", 0), ("cutout", 1)]
    ratios = recipe.ratios_by_candidate(results["selection"])
    assert results["chosen"] == choose(ratios)
    assert [row["seed"] for row in results["confirmation"]] == [2]
    assert {row["candidate"] for row in results["confirmation"]} == {results["chosen"]}
    for row in results["selection"] + results["confirmation"]:
        config = small_study.configs(row["candidate"], "quick", row["seed"])["DiffAugment"]
        history = runs_module.finished_run(config).history
        assert row["DiffAugment"]["last3_fid"] == pytest.approx(summary_value(history, "fid"), rel=1e-3)
        assert row["ratio"] == pytest.approx(row["DiffAugment"]["last3_fid"] / row["baseline"]["last3_fid"], rel=1e-3)
    table = recipe.summary_table(results).splitlines()
    assert len(table) == 2 + 2 + 1 and "**(chosen)**" in next(line for line in table if results["chosen"] in line)
    assert table[-1].startswith(f"| {results['chosen']} | confirmation |")
    text = recipe.report(results)
    assert "Chosen: " + results["chosen"] in text and "Rule: lowest worst-seed ratio" in text
    assert all(0 < row[label]["novelty"] < 10 for row in results["selection"] for label in ("baseline", "DiffAugment"))
    again = run_study("digits", "quick", selection_seeds=(0, 1), confirmation_seeds=(2,), out=out,
                      reference=Reference(), train=False, progress=False)  # all cached now: trains nothing
    assert len(asked) == 2
    assert [(row["ratio"], row["DiffAugment"]["source"]) for row in again["selection"]] == [
        (row["ratio"], "cache") for row in results["selection"]]


def test_a_study_with_nothing_cached_and_no_training_says_so(small_study, tmp_path):
    with pytest.raises(RuntimeError, match="leave out --cached-only"):
        run_study("digits", "quick", selection_seeds=(7,), confirmation_seeds=(8,), out=tmp_path / "s.json",
                  reference=Reference(), train=False)


def test_the_cli_refuses_an_unknown_dataset(capsys):
    assert cli.main(["recipe", "--dataset", "cats"]) == 2
    assert "'cats'" in capsys.readouterr().err


def test_the_lessons_train_the_chosen_recipe_and_its_baseline_without_t(monkeypatch):
    from diffaug_lessons.lessons import lesson_configs

    for dataset in STUDIES:
        monkeypatch.setitem(recipe.CHOSEN, dataset, None)
        assert recipe.chosen(dataset) == STUDIES[dataset].candidates[0]  # no study yet: the paper's policy
        last = STUDIES[dataset].candidates[-1]
        monkeypatch.setitem(recipe.CHOSEN, dataset, last.name)
        assert recipe.chosen(dataset) == last
        assert recipe.lesson_fields(dataset) == {**last.training, **last.t}
        assert recipe.lesson_fields(dataset, t=False) == dict(last.training)
    digits = STUDIES["digits"].configs(recipe.CHOSEN["digits"], "cpu")
    for lesson, diffaugment, baseline in (("03", "DiffAugment", "baseline"), ("04", "diffaugment", "none"),
                                          ("06", "DiffAugment, p = 1", "baseline (no T)")):
        configs = lesson_configs(lesson, "cpu")
        assert configs[diffaugment] == digits["DiffAugment"], lesson
        assert configs[baseline] == digits["baseline"], lesson
    assert lesson_configs("04-sweep", "cpu")["DiffAugment x1"] == digits["DiffAugment"]
    for lesson, dataset in (("07", "conditional-digits"), ("08", "faces")):
        study = STUDIES[dataset].configs(recipe.chosen(dataset).name, "cpu", seed=2)
        configs = {name: config.replace(seed=2) for name, config in lesson_configs(lesson, "cpu").items()}
        assert configs == {"baseline (no T)": study["baseline"], "DiffAugment": study["DiffAugment"]}, lesson
    with pytest.raises(ValueError, match="'cats'"):
        recipe.chosen("cats")


def test_lesson_05_holds_every_candidate_of_the_digits_study():
    from diffaug_lessons.lessons import lesson_configs

    configs = lesson_configs("05", "cpu")
    for candidate in STUDIES["digits"].candidates:
        assert configs[candidate.name] == STUDIES["digits"].configs(candidate.name, "cpu")["DiffAugment"]
    assert configs["baseline (no T)"] == STUDIES["digits"].configs(candidate.name, "cpu")["baseline"]


@pytest.mark.parametrize("dataset", list(STUDIES))
def test_the_committed_study_chose_what_the_lessons_train(dataset):
    """Once a study is committed, CHOSEN names its choice: the lessons' settings are the study's."""
    path = recipe.STUDY_DIR / f"recipe-{dataset}.json"
    if not path.exists():
        assert recipe.CHOSEN[dataset] is None, f"CHOSEN names a recipe for {dataset} but no study is committed"
        return
    results = recipe.load_study(dataset)
    assert recipe.CHOSEN[dataset] == results["chosen"]
    assert results["chosen"] == choose(recipe.ratios_by_candidate(results["selection"]), results["tie"])
    assert [c.name for c in STUDIES[dataset].candidates] == [c["name"] for c in results["candidates"]]
    for candidate, stored in zip(STUDIES[dataset].candidates, results["candidates"]):
        assert (dict(candidate.training), dict(candidate.t)) == (stored["training"], stored["t"])
    confirmed = results["confirmation"] or []  # None while the confirmation seeds still train
    assert {row["seed"] for row in confirmed}.isdisjoint(row["seed"] for row in results["selection"])
    assert all(row["candidate"] == results["chosen"] for row in confirmed)


def test_the_readme_shows_the_committed_study_as_summary_table_makes_it():
    """One source for numbers: the README's recipe table is the committed study's summary_table."""
    from pathlib import Path

    readme = (Path(recipe.__file__).parents[1] / "README.md").read_text()
    for dataset in ("digits", "faces", "conditional-digits"):
        assert recipe.summary_table(recipe.load_study(dataset)) in readme, dataset


def test_in_quick_mode_a_candidate_keeps_its_settings_but_not_its_run_length():
    """CI runs the lessons in quick mode: a chosen candidate that trains longer must not make them slow."""
    name = "2500 steps, D width 64, translation,cutout"
    quick = STUDIES["faces"].configs(name, "quick")["DiffAugment"]
    full = STUDIES["faces"].configs(name, "cpu")["DiffAugment"]
    assert (full.steps, full.eval_every, full.d_width) == (2500, 250, 64)
    assert quick.steps == lesson_config("quick").steps and quick.d_width == 64 and quick.policy == "translation,cutout"
