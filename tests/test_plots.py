"""The pictures: one colour per strategy everywhere, grid separators T cannot be taken for, axes sized to
what decides a comparison, and the JupyterLab settings `make lab` installs."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex, to_rgb

from diffaug_lessons.evidence import Evidence, plot_sweep
from diffaug_lessons.experiments import SWEEP_STRATEGIES, SWEEP_STRENGTHS
from diffaug_lessons.lessons import sweep_label
from diffaug_lessons.plots import (
    OTHER_COLOURS,
    SEPARATOR_COLOUR,
    STRATEGY_COLOURS,
    colours_for,
    grid_png,
    image_grid,
    late_top,
    plot_metric,
    plot_seeds,
    show_grids,
    strategy_of,
)
from diffaug_lessons.train import STRATEGIES, TrainConfig

matplotlib.use("Agg")  # no display: draw to memory
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ax():
    figure, axes = plt.subplots()
    yield axes
    plt.close(figure)


def _hex(colour) -> str:
    return to_hex(colour).lower()


def _history(*fids: float, step: int = 100) -> list[dict[str, float]]:
    return [{"step": step * (i + 1), "fid": fid, "kid": fid / 1000, "d_gap": 0.1} for i, fid in enumerate(fids)]


def _evidence(strategies: list[str]) -> Evidence:
    """Evidence of one run per entry of ``strategies`` (names a, b, c, ...), two reference seeds each."""
    names = [chr(ord("a") + i) for i in range(len(strategies))]
    configs = {name: TrainConfig(strategy=strategy) for name, strategy in zip(names, strategies)}
    histories = {name: {0: _history(90.0, 50.0 + i), 1: _history(80.0, 40.0 + i)} for i, name in enumerate(names)}
    sources = {name: dict.fromkeys(range(2), "reference") for name in names}
    return Evidence(configs, {name: [] for name in names}, histories, sources)


def _mean_line_colours(ax) -> list[str]:
    return [_hex(line.get_color()) for line in ax.lines if "mean" in str(line.get_label())]


# -- one colour per strategy --------------------------------------------------------------------------


def _contrast_on_white(colour: str) -> float:
    """WCAG contrast ratio of ``colour`` against a white page (1: invisible, 21: black)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_every_strategy_has_its_own_colour_and_diffaugments_stands_out_most():
    assert tuple(STRATEGY_COLOURS) == STRATEGIES
    assert len({_hex(c) for c in STRATEGY_COLOURS.values()}) == len(STRATEGIES)
    contrast = {strategy: _contrast_on_white(colour) for strategy, colour in STRATEGY_COLOURS.items()}
    assert max(contrast, key=contrast.get) == "diffaugment", contrast
    assert len({_hex(c) for c in OTHER_COLOURS}) == len(OTHER_COLOURS) >= 6


def test_colours_for_gives_strategy_colours_only_to_runs_of_different_strategies():
    class SavedRun:  # what a runs.Run offers: its config
        config = TrainConfig(strategy="d_only")

    runs = [TrainConfig(strategy="diffaugment"), "none", SavedRun()]
    assert [strategy_of(run) for run in runs] == ["diffaugment", "none", "d_only"]
    assert colours_for(runs) == [STRATEGY_COLOURS[s] for s in ("diffaugment", "none", "d_only")]
    # runs that share a strategy (data amounts, policies): the shared palette, in order
    shared = [TrainConfig(strategy="diffaugment", n_train=n) for n in (100, 200)]
    assert colours_for(shared) == list(OTHER_COLOURS[:2])
    # a run whose strategy is unknown (a label in words): the shared palette for every run
    assert colours_for(["none", "my run"]) == list(OTHER_COLOURS[:2])
    assert colours_for(["x"] * 10)[8:] == list(OTHER_COLOURS[:2])  # repeats after the eighth
    assert colours_for([]) == []


def test_evidence_plot_draws_each_strategy_in_its_colour_and_explicit_colours_win(ax):
    strategies = ["none", "reals_only", "d_only", "diffaugment"]
    _evidence(strategies).plot(ax, "fid", real_line=False)
    assert _mean_line_colours(ax) == [_hex(STRATEGY_COLOURS[s]) for s in strategies]
    ax.clear()
    _evidence(["none", "none", "none"]).plot(ax, "fid", real_line=False)  # e.g. three data amounts
    assert _mean_line_colours(ax) == [_hex(c) for c in OTHER_COLOURS[:3]]
    ax.clear()
    _evidence(["none", "diffaugment"]).plot(ax, "fid", real_line=False, colors=["tab:red", "tab:green"])
    assert _mean_line_colours(ax) == [_hex("tab:red"), _hex("tab:green")]


def test_evidence_bars_take_their_runs_colours_unless_one_colour_is_given(ax):
    evidence = _evidence(["none", "diffaugment"])
    evidence.bars(ax, "fid")
    assert [_hex(bar.get_facecolor()) for bar in ax.patches] == [_hex(STRATEGY_COLOURS[s]) for s in ("none", "diffaugment")]
    ax.clear()
    evidence.bars(ax, "fid", color="tab:olive")
    assert {_hex(bar.get_facecolor()) for bar in ax.patches} == {_hex("tab:olive")}


def test_evidence_plot_keys_uses_the_shared_palette(ax):
    _evidence(["diffaugment"]).plot_keys(ax, "a", {"fid": "FID", "d_gap": "gap"})
    assert _mean_line_colours(ax) == [_hex(c) for c in OTHER_COLOURS[:2]]


def test_the_strength_sweep_draws_each_strategy_in_its_colour(ax):
    names = [sweep_label(strategy, strength) for strategy in SWEEP_STRATEGIES for strength in SWEEP_STRENGTHS]
    configs = {name: TrainConfig() for name in names}
    histories = {name: {0: _history(90.0, 50.0), 1: _history(80.0, 45.0)} for name in names}
    sources = {name: dict.fromkeys(range(2), "reference") for name in names}
    sweep = Evidence(configs, {name: [] for name in names}, histories, sources)
    plot_sweep(sweep, ax, "fid")
    assert _mean_line_colours(ax) == [_hex(STRATEGY_COLOURS[s]) for s in SWEEP_STRATEGIES]
    ax.clear()
    plot_sweep(sweep, ax, "fid", colors=["k", "k", "k"])
    assert set(_mean_line_colours(ax)) == {"#000000"}


def test_seed_bands_and_metric_lines_name_their_strategy_by_colour(ax):
    seeds = [_history(90.0, 50.0), _history(80.0, 45.0)]
    plot_seeds({"none": seeds, "diffaugment": seeds}, "fid", ax)
    assert _mean_line_colours(ax) == [_hex(STRATEGY_COLOURS["none"]), _hex(STRATEGY_COLOURS["diffaugment"])]
    ax.clear()
    plot_seeds({"training faces": seeds}, "fid", ax, colors=("tab:blue",))
    assert _mean_line_colours(ax) == [_hex("tab:blue")]
    ax.clear()
    plot_metric({"none": seeds[0], "reals_only": seeds[1]}, "fid", ax)
    assert [_hex(line.get_color()) for line in ax.lines] == [_hex(STRATEGY_COLOURS[s]) for s in ("none", "reals_only")]
    ax.clear()
    plot_metric({"100 images": seeds[0], "200 images": seeds[1]}, "fid", ax, colors=["tab:red", "tab:blue"])
    assert [_hex(line.get_color()) for line in ax.lines] == [_hex("tab:red"), _hex("tab:blue")]


# -- axes sized to what decides a comparison ----------------------------------------------------------


def test_late_top_ignores_the_first_quarter_of_each_run():
    outlier = _history(4800.0, 300.0, 60.0, 55.0)  # steps 100 .. 400: the first quarter is step 100
    steady = _history(400.0, 90.0, 80.0, 70.0)
    assert late_top([outlier, steady], "fid") == pytest.approx(300.0 * 1.15)
    assert late_top([steady], "fid", after=0.5) == pytest.approx(80.0 * 1.15)  # steps 300, 400
    assert late_top([[{"step": 0, "fid": 10.0}]], "fid") is None  # nothing after the start
    assert late_top([_history(500.0, 90.0, float("nan"), 40.0)], "fid") == pytest.approx(90.0 * 1.15)  # NaN skipped


def test_plot_metric_clips_early_values_and_says_how_high_they_went(ax):
    runs = {"outlier": _history(4800.0, 300.0, 60.0, 55.0), "steady": _history(400.0, 90.0, 80.0, 70.0)}
    plot_metric(runs, "fid", ax, clip_early=True)
    assert ax.get_ylim() == pytest.approx((0.0, 300.0 * 1.15))
    assert any("4800" in text.get_text() and "off the top" in text.get_text() for text in ax.texts)
    ax.clear()
    plot_metric(runs, "fid", ax)  # without clip_early the outlier sets the axis
    assert ax.get_ylim()[1] > 4800
    ax.clear()
    rising = {"late rise": _history(10.0, 20.0, 30.0)}  # the late values are the highest: nothing to clip
    plot_metric(rising, "fid", ax, clip_early=True)
    assert ax.get_ylim()[1] >= 30.0 and not ax.texts


# -- grid separators ---------------------------------------------------------------------------------


def test_a_grid_of_ts_fill_is_told_apart_from_its_separators():
    fill = torch.zeros(6, 1, 5, 5)  # 0 in [-1, 1]: what T's translation and cutout fill with
    grid = image_grid(fill, nrow=3)
    assert grid.shape == (2 * 6 + 1, 3 * 6 + 1, 3)
    is_image = np.zeros(grid.shape[:2], bool)
    for r in range(2):
        for c in range(3):
            is_image[1 + 6 * r : 6 + 6 * r, 1 + 6 * c : 6 + 6 * c] = True
    assert (grid[is_image] == 128).all()  # the fill is mid-grey
    separators = grid[~is_image]
    assert (separators == SEPARATOR_COLOUR).all()
    # no grey at all: no image of grey digits or faces, and no fill of T, can take the separator's colour
    assert len(set(SEPARATOR_COLOUR)) > 1
    assert not any((separators == value).all(axis=1).any() for value in grid[is_image])


def test_every_tiling_helper_draws_the_same_separators():
    images = torch.zeros(4, 3, 4, 4)
    from PIL import Image

    png = np.array(Image.open(io.BytesIO(grid_png(images, nrow=2, scale=3))))
    assert tuple(png[0, 0, :3]) == SEPARATOR_COLOUR and tuple(png[4, 4, :3]) == (128, 128, 128)
    figure = show_grids({"T's fill": images, "more": images}, nrow=2)
    shown = [ax.get_images()[0].get_array() for ax in figure.axes]
    plt.close(figure)
    assert all(tuple(np.asarray(picture)[0, 0]) == SEPARATOR_COLOUR for picture in shown)


# -- JupyterLab's settings for the lessons -----------------------------------------------------------


def test_the_lab_overrides_name_settings_jupyterlab_has_with_allowed_values():
    import jsonschema
    from jupyterlab.labapp import LabApp

    overrides = json.loads((REPO / "lab" / "overrides.json").read_text())
    schemas = Path(LabApp().schemas_dir)
    assert overrides, "lab/overrides.json sets nothing"
    for setting_id, values in overrides.items():
        package, plugin = setting_id.split(":")
        schema_file = schemas / package / f"{plugin}.json"
        assert schema_file.is_file(), f"{setting_id}: JupyterLab has no such setting ({schema_file})"
        schema = json.loads(schema_file.read_text())
        assert set(values) <= set(schema["properties"]), setting_id
        jsonschema.validate(values, schema)  # the allowed values (fetchNews: "true", "false" or "none")
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"  # no news pop-up


def test_make_lab_installs_the_overrides_where_jupyterlab_reads_them(tmp_path):
    from jupyterlab.labapp import LabApp

    # JupyterLab reads <its application folder>/settings/overrides.json; the venv's is <venv>/share/jupyter/lab
    assert Path(LabApp().app_settings_dir) == Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    venv = tmp_path / "venv"
    try:
        plan = subprocess.run(["make", "-n", "--always-make", f"VENV={venv}", "lab"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout
    except FileNotFoundError:
        pytest.skip("make is not installed")
    target = venv / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    copy = re.search(rf"^cp lab/overrides.json {re.escape(str(target))}$", plan, re.MULTILINE)
    assert copy, plan
    assert copy.start() < plan.index("jupyter lab --ip"), "the settings must be in place before JupyterLab starts"


def test_one_colour_per_thing_shown_from_the_package_never_from_a_notebook():
    import json
    from pathlib import Path

    from diffaug_lessons.plots import KEY_COLOURS, OTHER_COLOURS, key_colours

    assert key_colours(["d_train", "d_heldout", "d_fake"]) == [KEY_COLOURS["d_train"], KEY_COLOURS["d_heldout"],
                                                               KEY_COLOURS["d_fake"]]
    both = key_colours(["acc_train", "acc_train_aug", "unknown key"])
    assert both[0] == KEY_COLOURS["acc_train"] and len(set(both)) == 3 and set(both[1:]) <= set(OTHER_COLOURS)
    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            assert "colors=" not in source and "tab:" not in source, f"{path.name} picks its own colours"
