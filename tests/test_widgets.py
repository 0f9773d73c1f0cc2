"""The widgets, driven from Python: set values, press buttons, check what the callbacks produce."""

import html
import inspect
import json
import time

import pytest
import torch

from diffaug_lessons import __version__, widgets
from diffaug_lessons.augment import Strengths
from diffaug_lessons.plots import OTHER_COLOURS, STRATEGY_COLOURS
from diffaug_lessons.runs import Run, cached_train, run_name, runs_dir
from diffaug_lessons.widgets import (
    Prediction,
    comparison_table_html,
    dashboard_config,
    playground_images,
    policy_code,
    policy_from_checkboxes,
    policy_playground,
    predict,
    prediction_feedback,
    prediction_text,
    preview_images,
    run_comparison,
    run_description,
    run_statistic,
    run_summary,
    strategy_explorer,
    strategy_table_html,
    train_step_source_html,
    training_dashboard,
)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _saved_run(folder, config, fids):
    """A stopped run written by hand (no training): ``fids`` at steps 100, 200, ... as its history."""
    folder = folder / run_name(config)
    folder.mkdir(parents=True)
    rows = [{"step": 100 * (i + 1), "fid": fid, "kid": fid / 1000, "d_gap": 0.1, "d_train": 0.6, "d_heldout": 0.5,
             "d_fake": 0.4} for i, fid in enumerate(fids)]
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    (folder / "meta.json").write_text(json.dumps({"status": "stopped", "version": __version__, "key": config.key()}))
    (folder / "history.json").write_text(json.dumps(rows))
    return Run(folder).check(config)


@pytest.fixture
def drawn(monkeypatch):
    """What the widgets' curves show: for each call of plot_metric, its line colours and y axis."""
    calls = []
    draw = widgets.plot_metric

    def spy(runs, key, ax, *args, **kwargs):
        result = draw(runs, key, ax, *args, **kwargs)
        calls.append({"key": key, "colours": [line.get_color() for line in ax.lines], "ylim": ax.get_ylim(),
                      "notes": [text.get_text() for text in ax.texts]})
        return result

    monkeypatch.setattr(widgets, "plot_metric", spy)
    return calls


def _wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the dashboard"
        time.sleep(0.02)


# -- 0. predictions ---------------------------------------------------------------------------------


def test_prediction_text_lists_the_lettered_choices():
    text = prediction_text("Which gap is widest?", ["100%", "20%", "100 images"])
    assert text.splitlines()[:4] == ["Predict: Which gap is widest?", "  A. 100%", "  B. 20%", "  C. 100 images"]


def test_prediction_feedback():
    choices = ["wider", "narrower"]
    assert prediction_feedback(None, 0, choices, "why")[0] is None
    right, message = prediction_feedback(0, 0, choices, "D memorises.")
    assert right is True and "Right: A. wider" in message and "D memorises." in message
    wrong, message = prediction_feedback(1, 0, choices, "D memorises.")
    assert wrong is False and "Not quite: you chose B; the answer is A. wider" in message


def test_predict_widget_checks_the_choice_and_reads_as_text_on_a_static_page():
    question = Prediction("Where does the gap open widest?", ["100%", "20%", "100 images"], answer="C",
                          explanation="The fewer the images, the easier they are to memorise.")
    bundle = question._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle["text/plain"].startswith("Predict: Where does the gap open widest?\n  A. 100%")
    assert question.check() is None and "Pick an answer first" in question.feedback.value
    question.options.value = 1
    question.check_button.click()
    assert "Not quite: you chose B" in question.feedback.value
    question.options.value = 2
    assert question.check() is True and "Right: C. 100 images" in question.feedback.value
    with pytest.raises(ValueError, match="unknown answer 'D'; choose from A, B"):
        Prediction("?", ["a", "b"], "D", "")
    with pytest.raises(ValueError, match=r"choices must be a list of 2 to 10 non-empty strings; got \['a'\]"):
        Prediction("?", ["a"], 0, "")
    with pytest.raises(ValueError, match=r"answer must be a choice's index \(0 to 1\) or letter \(A, B\); got 2"):
        Prediction("?", ["a", "b"], 2, "")
    with pytest.raises(ValueError, match="unknown answer 'D'; choose from A, B"):
        predict("04-lowest-fid", "?", ["a", "b"])  # its answer, D, is not among two choices


# -- 1. policy playground ----------------------------------------------------------------------------


def test_policy_from_checkboxes_keeps_diffaugment_order_and_names_color():
    every = dict.fromkeys(widgets.PLAYGROUND_OPS, True)
    assert policy_from_checkboxes(every) == "color,translation,cutout"
    assert policy_from_checkboxes({"cutout": True, "brightness": True, "contrast": False}) == "brightness,cutout"
    assert policy_from_checkboxes({**every, "saturation": False}) == "brightness,contrast,translation,cutout"
    assert policy_from_checkboxes({}) == ""
    with pytest.raises(ValueError, match="unknown transform 'cutuot'; choose from brightness.*did you mean 'cutout'"):
        policy_from_checkboxes({"cutuot": True})


def test_policy_code_is_ready_to_paste():
    assert (policy_code("brightness,translation,cutout", Strengths())
            == 'DiffAugment(x, "brightness,translation,cutout", translation_ratio=0.125, cutout_ratio=0.5)')
    assert policy_code("color", Strengths(color_strength=0.5, p=0.25)) == 'DiffAugment(x, "color", color_strength=0.5, p=0.25)'
    assert policy_code("", Strengths(p=0.5)) == 'DiffAugment(x, "")'


def test_playground_images_are_reproducible_per_seed():
    images = preview_images("shapes", 4, 16)
    first, params = playground_images(images, "color,translation,cutout", Strengths(), seed=3, scale=1)
    again, _ = playground_images(images, "color,translation,cutout", Strengths(), seed=3, scale=1)
    other, _ = playground_images(images, "color,translation,cutout", Strengths(), seed=4, scale=1)
    assert first == again and first != other
    assert first.startswith(b"\x89PNG") and params.ops == ("brightness", "saturation", "contrast", "translation", "cutout")


def test_playground_redraws_on_every_control_and_only_then():
    playground = policy_playground(n_images=4, resolution=16)
    assert WIDGET_VIEW in playground._repr_mimebundle_()
    start_image, start_code = playground.image.value, playground.code.value
    assert "color,translation,cutout" in start_code and "T on the first image: brightness(" in playground.description.value

    playground.checkboxes["cutout"].value = False
    assert "color,translation&quot;" in playground.code.value and "cutout_ratio" not in playground.code.value
    assert playground.image.value != start_image
    playground.checkboxes["cutout"].value = True
    assert playground.image.value == start_image  # same settings, same picture

    playground.sliders["translation_ratio"].value = 0.25
    assert playground.image.value != start_image and "translation_ratio=0.25" in playground.code.value
    playground.sliders["translation_ratio"].value = 0.125
    assert playground.image.value == start_image

    playground.resample_button.click()
    assert playground.image.value != start_image
    resampled = playground.image.value
    playground.sliders["p"].value = 0.5
    playground.sliders["p"].value = 1.0
    assert playground.image.value == resampled  # a redraw does not draw new parameters; Resample does


def test_playground_dataset_switch_changes_the_channels_shown():
    playground = policy_playground(dataset="shapes", n_images=4, resolution=16)
    assert "3 channels, RGB" in playground.info.value
    playground.dataset.value = "digits"
    assert "1 channel, grey" in playground.info.value and "digits" in playground.info.value
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; choose from digits, shapes"):
        policy_playground(dataset="cifar")


def test_playground_redraw_is_fast():
    playground = policy_playground()  # the notebook's default: 8 shapes at 32x32
    slider = playground.sliders["cutout_ratio"]
    seconds = []
    for value in [0.25, 0.5] * 10:
        tick = time.perf_counter()
        slider.value = value  # the callback runs synchronously: done means image.value is set
        seconds.append(time.perf_counter() - tick)
    assert sum(seconds) / len(seconds) < 0.2


# -- 2. strategy explorer ----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["none", "reals_only", "d_only", "diffaugment"])
def test_strategy_table_marks_the_chosen_row(strategy):
    table = strategy_table_html(strategy)
    assert table.count("class='chosen'") == 1 and f"data-strategy='{strategy}' class='chosen'" in table
    expected_t_cells = {"none": 0, "reals_only": 1, "d_only": 2, "diffaugment": 3}
    assert table.count("<b>T(") == sum(expected_t_cells.values())  # the whole table is always shown
    source = train_step_source_html(strategy)
    assert source.count("class='t-applied'") == expected_t_cells[strategy]
    assert source.count("class='t-applied'") + source.count("class='t-skipped'") == 3
    assert "T(x_real)" in source


def test_strategy_explorer_follows_the_toggle():
    explorer = strategy_explorer("none")
    assert "data-strategy='none' class='chosen'" in explorer.table.value
    explorer.toggles.value = "diffaugment"
    assert "data-strategy='diffaugment' class='chosen'" in explorer.table.value
    assert explorer.source.value.count("t-applied") == 3
    with pytest.raises(ValueError, match="unknown strategy 'diffaug'; choose from none, reals_only"):
        strategy_table_html("diffaug")


# -- 3. training dashboard ---------------------------------------------------------------------------


def test_dashboard_config_follows_the_controls(tiny_config):
    config = dashboard_config(tiny_config(), "diffaugment", "translation", 50, 400)
    chosen = (config.strategy, config.policy, config.n_train, config.steps, config.eval_every)
    assert chosen == ("diffaugment", "translation", 50, 400, 20)
    assert dashboard_config(tiny_config(), "none", "", 64, 12).eval_every == 4  # the base's steps: its schedule
    assert dashboard_config(tiny_config(), "none", "", 64, 10).eval_every == 1
    tuned = dashboard_config(tiny_config(), "diffaugment", "color", 64, 12, p=0.5, translation_ratio=0.25,
                             cutout_ratio=0.25, color_strength=0.5, seed=3)
    assert (tuned.p, tuned.translation_ratio, tuned.cutout_ratio, tuned.color_strength, tuned.seed) == (0.5, 0.25, 0.25, 0.5, 3)
    with pytest.raises(ValueError, match="unknown dashboard setting 'lr'; choose from p, translation_ratio"):
        dashboard_config(tiny_config(), "none", "", 64, 12, lr=0.1)
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 1000000000\]; got 0"):
        dashboard_config(tiny_config(), "none", "", 64, 0)
    assert run_summary(None, 10, "stopped") == "stopped: no evaluation yet"


def test_dashboard_trains_in_the_background_and_refuses_a_second_start(tiny_config):
    dashboard = training_dashboard(tiny_config(seed=1))
    assert WIDGET_VIEW in dashboard._repr_mimebundle_() and dashboard.status == "idle"
    placeholder_samples, empty_curves = dashboard.samples.value, dashboard.curves.value
    assert dashboard.start()
    assert not dashboard.start()
    assert "a run is already training: press Stop first" in dashboard.message.value
    assert dashboard.wait(120)
    assert dashboard.status == "complete" and [row["step"] for row in dashboard.history] == [4, 8, 12]  # base schedule
    assert dashboard.samples.value != placeholder_samples and dashboard.curves.value != empty_curves
    assert dashboard.progress.value == 12 and "complete: step 12/12 | FID" in dashboard.message.value
    assert json.loads((dashboard.run_dir / "meta.json").read_text())["status"] == "complete"
    finished = dashboard.history
    assert dashboard.start() and dashboard.wait(30)  # a finished run is loaded, not trained again
    assert dashboard.status == "complete" and dashboard.history == finished


def test_dashboard_stop_saves_and_start_resumes(tiny_config):
    dashboard = training_dashboard(tiny_config(seed=2))
    dashboard.steps.value = 300  # evaluations every 15 steps
    dashboard.start()
    _wait_until(lambda: len(dashboard.history) >= 1)
    dashboard.stop_button.click()
    assert dashboard.wait(60) and dashboard.status == "stopped"
    meta = json.loads((dashboard.run_dir / "meta.json").read_text())
    assert meta["status"] == "stopped" and dashboard.run_dir.parent == runs_dir()
    before = list(dashboard.history)
    assert before and before[-1]["step"] < 300 and dashboard.message.value.startswith("stopped")

    dashboard.start_button.click()
    assert "resuming" in dashboard.message.value
    assert dashboard.wait(120) and dashboard.status == "complete"
    assert dashboard.history[: len(before)] == before  # continued, not restarted
    assert [row["step"] for row in dashboard.history] == list(range(15, 301, 15))
    assert json.loads((dashboard.run_dir / "meta.json").read_text())["status"] == "complete"


def test_dashboard_controls_p_the_strengths_and_the_seed(tiny_config):
    dashboard = training_dashboard(tiny_config(seed=8))
    dashboard.settings["p"].value = 0.5
    dashboard.settings["cutout_ratio"].value = 0.25
    dashboard.settings["seed"].value = 9
    config = dashboard.config()
    assert (config.p, config.cutout_ratio, config.seed) == (0.5, 0.25, 9)
    assert "Not trained yet with these settings" in dashboard.message.value


def test_dashboard_opens_on_the_finished_run_of_its_settings(tiny_config):
    run = cached_train(tiny_config(seed=10, strategy="diffaugment"), progress=False)
    dashboard = training_dashboard(tiny_config(seed=10))
    assert dashboard.history == [] and "Not trained yet" in dashboard.message.value
    empty_curves, placeholder = dashboard.curves.value, dashboard.samples.value
    assert empty_curves == widgets.curves_png([]) and placeholder == widgets.samples_placeholder_png()
    dashboard.strategy.value = "diffaugment"  # the cached run's settings: drawn at once, nothing trains
    assert dashboard.history == run.history and not dashboard.running
    assert dashboard.curves.value != empty_curves and dashboard.samples.value != placeholder
    assert f"From the cache ({run.path.name})" in dashboard.message.value and "step 12/12" in dashboard.message.value
    reopened = training_dashboard(tiny_config(seed=10, strategy="diffaugment"))
    assert reopened.history == run.history and reopened.progress.value == 12


@pytest.mark.parametrize("steps", [0, -5])
def test_dashboard_refuses_steps_below_one_as_they_are_typed(tiny_config, monkeypatch, steps):
    monkeypatch.setattr(widgets, "train_in_folder", lambda *a, **k: pytest.fail("refused settings were trained"))
    dashboard = training_dashboard(tiny_config(seed=12))
    dashboard.steps.value = steps
    refusal = f"steps must be an integer in [1, 1000000000]; got {steps}"
    assert refusal in dashboard.message.value and "#b00020" in dashboard.message.value  # shown at once, in red
    assert not dashboard.start() and refusal in dashboard.message.value
    assert dashboard.status == "idle" and dashboard.run_dir is None and not dashboard.running
    dashboard.steps.value = 12
    assert "Not trained yet with these settings" in dashboard.message.value


def test_the_playground_refuses_odd_sizes_by_name():
    with pytest.raises(ValueError, match=r"n_images must be an integer in \[1, 64\]; got 0"):
        policy_playground(n_images=0)  # it used to end in a ZeroDivisionError
    with pytest.raises(ValueError, match="resolution must be one of 8, 16, 32, 64; got 12"):
        policy_playground(resolution=12)


def test_dashboard_shows_a_bad_policy_and_starts_nothing(tiny_config):
    dashboard = training_dashboard(tiny_config(seed=3))
    dashboard.policy.value = "color,cutuot"
    assert "unknown augmentation &#x27;cutuot&#x27;" in dashboard.policy_error.value and "#b00020" in dashboard.policy_error.value
    assert not dashboard.start()
    assert "did you mean &#x27;cutout&#x27;" in dashboard.message.value
    assert dashboard.status == "idle" and dashboard.run_dir is None and not dashboard.running
    dashboard.policy.value = "translation"
    assert dashboard.policy_error.value == ""
    dashboard.stop()
    assert dashboard.message.value == "no run is training"


def test_dashboard_reports_an_error_in_the_training_thread(tiny_config, monkeypatch):
    def broken_train(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(widgets, "train_in_folder", broken_train)
    dashboard = training_dashboard(tiny_config(seed=4))
    dashboard.start()
    assert dashboard.wait(30) and dashboard.status == "error"
    assert "RuntimeError: the disk is full" in dashboard.message.value


# -- 4. run comparison -------------------------------------------------------------------------------


def test_comparison_lists_saved_runs_with_their_final_numbers(tiny_config):
    first = cached_train(tiny_config(seed=5), progress=False)
    second = cached_train(tiny_config(seed=5, strategy="diffaugment"), progress=False)
    comparison = run_comparison(selected=[first, second])
    labels = [label for label, _ in comparison.selector.options]
    assert "baseline (no T), 64 images, seed 5 (complete)" in labels
    assert "DiffAugment, 64 images, T = color,translation,cutout, seed 5 (complete)" in labels
    assert WIDGET_VIEW in comparison._repr_mimebundle_()
    assert {run.path for run in comparison.chosen()} == {first.path, second.path}  # pre-selected

    mean_of_last_three = sum(row["fid"] for row in first.history[-3:]) / 3
    assert "Metrics: mean of the last 3 evaluations." in comparison.table.value
    assert f"{mean_of_last_three:.4g}" in comparison.table.value
    comparison.statistic.value = "final"
    assert "Metrics: final value (last evaluation)." in comparison.table.value
    assert f"{first.history[-1]['fid']:.4g}" in comparison.table.value
    assert f"{second.history[-1]['fid']:.4g}" in comparison.table.value
    assert len(comparison.grids.children) == 2
    fid_curves = comparison.curves.value
    comparison.metric.value = "d_gap"
    assert comparison.curves.value != fid_curves

    cached_train(tiny_config(seed=6), progress=False)
    comparison.refresh_button.click()
    assert "baseline (no T), 64 images, seed 6 (complete)" in [label for label, _ in comparison.selector.options]
    assert len(comparison.chosen()) == 2  # the chosen runs stay chosen


def test_comparison_curves_take_each_runs_strategy_colour_and_a_late_sized_fid_axis(tiny_config, tmp_path, drawn):
    outlier = _saved_run(tmp_path, tiny_config(strategy="none", steps=400), [4800.0, 300.0, 60.0, 55.0])
    steady = _saved_run(tmp_path, tiny_config(strategy="diffaugment", steps=400), [400.0, 90.0, 80.0, 70.0])
    comparison = run_comparison(runs=[outlier, steady], selected=[outlier, steady])
    fid = drawn[-1]
    assert fid["key"] == "fid" and fid["colours"] == [STRATEGY_COLOURS["none"], STRATEGY_COLOURS["diffaugment"]]
    # sized to what the runs reach after their first quarter (300 at step 200), not to the early 4800
    assert fid["ylim"] == pytest.approx((0.0, 300.0 * 1.15))
    assert any("4800" in note for note in fid["notes"])  # the picture says the early values run off the top
    comparison.metric.value = "d_gap"
    assert drawn[-1]["key"] == "d_gap" and not drawn[-1]["notes"]  # D's outputs keep their whole range
    # two runs of one strategy (here two data amounts): the shared palette, not one colour for both
    other = _saved_run(tmp_path, tiny_config(strategy="none", steps=400, n_train=32), [900.0, 80.0, 70.0, 60.0])
    run_comparison(runs=[outlier, other], selected=[outlier, other])
    assert drawn[-1]["colours"] == list(OTHER_COLOURS[:2])


def test_comparison_curves_refuse_strategies_that_do_not_fit_the_runs():
    rows = [{"step": 4, "fid": 50.0}]
    assert widgets.comparison_curves_png({"a": rows}, "fid", ["d_only"]).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match=r"strategies must be a list of one strategy name per run \(1 in all\)"):
        widgets.comparison_curves_png({"a": rows}, "fid", ["none", "d_only"])
    with pytest.raises(ValueError, match="unknown strategy in strategies 'diffaug'; choose from none"):
        widgets.comparison_curves_png({"a": rows}, "fid", ["diffaug"])


def test_dashboard_curves_are_drawn_in_the_runs_strategy_colour(tiny_config, tmp_path, drawn, monkeypatch):
    saved = _saved_run(tmp_path, tiny_config(strategy="reals_only", policy="translation"), [300.0, 90.0, 80.0])
    widgets.curves_png(saved.history, "d_only")
    assert [call["colours"] for call in drawn[-2:]] == [[STRATEGY_COLOURS["d_only"]]] * 2  # FID and KID
    with pytest.raises(ValueError, match="unknown strategy 'DiffAugment'"):
        widgets.curves_png(saved.history, "DiffAugment")
    monkeypatch.setattr(widgets, "finished_run", lambda config: saved)  # the cache holds the run of the settings
    training_dashboard(tiny_config(strategy="reals_only", policy="translation"))
    assert [call["colours"] for call in drawn[-2:]] == [[STRATEGY_COLOURS["reals_only"]]] * 2


def test_comparison_table_and_an_empty_choice(tiny_config):
    run = cached_train(tiny_config(seed=7, strategy="reals_only", policy="translation"), progress=False)
    table = comparison_table_html([run])
    described = "T on reals only, 64 images, T = translation, seed 7"
    kid = sum(row["kid"] for row in run.history[-3:]) / 3
    for text in (run.path.name, described, "12/12", "complete", "FID", f"{kid:.4g}"):
        assert text in table
    comparison = run_comparison(runs=[run])
    assert len(comparison.selector.options) == 1
    comparison.selector.value = ()
    assert "No saved runs chosen" in comparison.table.value and comparison.grids.children == ()


def test_run_description_names_a_run_in_words(tiny_config):
    assert run_description(tiny_config(strategy="diffaugment", seed=2)) == \
        "DiffAugment, 64 images, T = color,translation,cutout, seed 2"
    weaker = tiny_config(strategy="diffaugment", policy="translation,cutout", cutout_ratio=0.25, p=0.3, ada_target=0.6)
    assert run_description(weaker) == ("DiffAugment, 64 images, T = translation,cutout, probability p 0.3, "
                                       "cutout ratio 0.25, ADA target 0.6, seed 0")
    assert run_description(tiny_config(n_train=None, fraction=0.2)) == "baseline (no T), 20% of the data, seed 0"
    history = [{"step": s, "fid": float(s)} for s in (1, 2, 3, 4)]
    assert run_statistic(history, "fid", "final") == 4.0 and run_statistic(history, "fid") == 3.0
    assert run_statistic(history, "kid") is None


def test_formulas_html_shows_the_packages_source_beside_a_picture():
    from diffaug_lessons import augment

    images = preview_images("shapes", 2, 16)
    examples = {"brightness": (torch.tensor([0.4, -0.4]),), "translation": (torch.tensor([1, -2]), torch.tensor([0, 3])),
                "cutout": (torch.tensor([4, 15]), torch.tensor([4, 0]), 8, 8)}
    page = widgets.formulas_html(images, examples)
    assert page.count("<tr class='diffaug-formula'") == 3 and page.count("data:image/png;base64,") == 3
    assert html.escape(inspect.getsource(augment.translation)) in page  # the package's code, not a copy
    assert "bottom: cutout(x, [4, 15]; [4, 0]; 8; 8)" in page
    with pytest.raises(ValueError, match="unknown op 'flip'; choose from brightness"):
        widgets.formulas_html(images, {"flip": ()})


def test_comparison_leaves_out_runs_still_training(tiny_config):
    run = cached_train(tiny_config(seed=11), progress=False)
    assert "baseline (no T), 64 images, seed 11 (complete)" in [label for label, _ in run_comparison().selector.options]
    run.mark("running")  # as another process training it would leave it
    try:
        labels = [label for label, _ in run_comparison().selector.options]
        assert not any("seed 11" in label for label in labels)
        assert any("seed 11" in label for label, _ in run_comparison(runs=[run]).selector.options)  # asked for: shown
    finally:
        run.mark("complete")


def test_the_playground_offers_the_real_faces():
    faces = preview_images("faces", 4, 32)
    assert faces.shape == (4, 1, 32, 32) and -1 <= faces.min() and faces.max() <= 1
    playground = policy_playground(dataset="faces", resolution=32)
    assert "faces" in playground.dataset.options


def test_comparison_opens_on_lesson_04s_four_strategies_not_the_newest_runs(tiny_config, monkeypatch):
    from diffaug_lessons import lessons

    four = {strategy: tiny_config(seed=9, strategy=strategy) for strategy in ("none", "reals_only", "d_only", "diffaugment")}
    runs = [cached_train(config, progress=False) for config in four.values()]
    newest = cached_train(tiny_config(seed=9, strategy="diffaugment", policy="rot90"), progress=False)
    monkeypatch.setattr(lessons, "lesson_configs", lambda lesson, preset=None: four if lesson == "04" else {})
    comparison = run_comparison(runs=[newest, *runs])
    assert {run.path for run in comparison.chosen()} == {run.path for run in runs}
    monkeypatch.setattr(lessons, "lesson_configs", lambda lesson, preset=None: {})
    assert run_comparison(runs=[newest, *runs]).chosen()[0].path == newest.path  # none of lesson 04: the newest
