"""The widgets, driven from Python: set values, press buttons, check what the callbacks produce."""

import json
import time

import pytest

from diffaug_lessons import widgets
from diffaug_lessons.augment import Strengths
from diffaug_lessons.runs import cached_train, runs_dir
from diffaug_lessons.widgets import (
    comparison_table_html,
    dashboard_config,
    playground_images,
    policy_code,
    policy_from_checkboxes,
    policy_playground,
    preview_images,
    run_comparison,
    run_summary,
    strategy_explorer,
    strategy_table_html,
    train_step_source_html,
    training_dashboard,
)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the dashboard"
        time.sleep(0.02)


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
    assert dashboard_config(tiny_config(), "none", "", 64, 12).eval_every == 1
    with pytest.raises(ValueError, match="steps must be a positive integer; got 0"):
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
    assert dashboard.status == "complete" and [row["step"] for row in dashboard.history] == list(range(1, 13))
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
    comparison = run_comparison()
    labels = [label for label, _ in comparison.selector.options]
    assert f"{first.path.name} (complete)" in labels and f"{second.path.name} (complete)" in labels
    assert WIDGET_VIEW in comparison._repr_mimebundle_()

    comparison.selector.value = tuple(i for i, run in enumerate(comparison.runs) if run.path in (first.path, second.path))
    assert f"{first.history[-1]['fid']:.4g}" in comparison.table.value
    assert f"{second.history[-1]['fid']:.4g}" in comparison.table.value
    assert len(comparison.grids.children) == 2
    fid_curves = comparison.curves.value
    comparison.metric.value = "d_gap"
    assert comparison.curves.value != fid_curves

    third = cached_train(tiny_config(seed=6), progress=False)
    comparison.refresh_button.click()
    assert f"{third.path.name} (complete)" in [label for label, _ in comparison.selector.options]
    assert len(comparison.chosen()) == 2  # the chosen runs stay chosen


def test_comparison_table_and_an_empty_choice(tiny_config):
    run = cached_train(tiny_config(seed=7, strategy="reals_only", policy="translation"), progress=False)
    table = comparison_table_html([run])
    for text in (run.path.name, "reals_only", "translation", "12/12", "complete", "FID", f"{run.history[-1]['kid']:.4g}"):
        assert text in table
    comparison = run_comparison(runs=[run])
    assert len(comparison.selector.options) == 1
    comparison.selector.value = ()
    assert "No saved runs chosen" in comparison.table.value and comparison.grids.children == ()
