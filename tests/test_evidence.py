"""Findings over seeds: the reference results, a student's run against their band, the strength sweep."""

import json
import re

import pytest
import torch

from diffaug_lessons import cli
from diffaug_lessons.evidence import (
    KEPT,
    REFERENCE_FILE,
    Evidence,
    Reference,
    build_reference,
    gather,
    mean_sd,
    prediction_interval,
    real_reference,
    summary_value,
)
from diffaug_lessons.experiments import SWEEP_STRENGTHS, strength_config, strength_sweep
from diffaug_lessons.lessons import LESSONS, SHIPPED_SHORT, lesson_configs, reference_seeds, shipped_seeds
from diffaug_lessons.numerics import NUMERICS_VERSION
from diffaug_lessons.runs import seed_list, train_seeds
from diffaug_lessons.train import TrainConfig, lesson_config


@pytest.fixture(scope="module")
def quick_reference(tmp_path_factory):
    """Lesson 03's runs in quick mode over seeds 0 and 1, written by the same code as the shipped file."""
    out = tmp_path_factory.mktemp("reference") / "quick.json"
    return build_reference(["03"], preset="quick", out=out, seeds=2, progress=False)


def test_a_reference_entry_is_regenerated_through_the_same_code_path(quick_reference):
    data = json.loads(quick_reference.read_text())
    assert data["numerics_version"] == NUMERICS_VERSION and data["command"].startswith(
        "python -m diffaug_lessons reference --preset quick --seeds 2 --lessons 03")
    configs = lesson_configs("03", "quick")
    assert set(data["lessons"]["03"]) == set(configs)
    reference = Reference.load(quick_reference)
    for name, config in configs.items():
        assert reference.seeds(config) == [0, 1], name
    # the entry holds the run's own numbers (to 5 significant digits), column for column
    run = train_seeds({"D only": configs["D only"]}, seeds=[1], progress=False)["D only"][0]
    stored = reference.history(configs["D only"].replace(seed=1))
    assert len(stored) == len(run.history)
    for mine, kept in zip(run.history, stored):
        assert set(kept) == {key for key in KEPT if key in mine}
        for key, value in kept.items():
            assert value == pytest.approx(mine[key], rel=1e-4, abs=1e-12), key


def test_gather_trains_the_asked_seeds_and_fills_the_others_from_the_reference(quick_reference):
    reference = Reference.load(quick_reference)
    evidence = gather(lesson_configs("03", "quick"), seeds=1, reference=reference, progress=False)
    assert evidence.sources["baseline"] == {0: "your run", 1: "reference"}
    assert evidence.seeds() == [0, 1] and [run.config.seed for run in evidence.runs["baseline"]] == [0]
    # the student's seed-0 run reproduces the reference's seed 0 (same code, same numerics)
    mine = evidence.value("baseline", 0)
    assert mine == pytest.approx(summary_value(reference.history(evidence.configs["baseline"]), "fid"), rel=1e-4)
    # sample measures: computed from your run's generator, read from the reference for its seeds
    stored = reference.measures(evidence.configs["baseline"])
    assert set(stored) >= {"cutout_patches", "grey_borders", "mirrored", "rotated", "memorisation", "novelty"}
    assert evidence.measure("baseline", 0, "memorisation") == pytest.approx(stored["memorisation"], rel=1e-4)
    assert evidence.measure("baseline", 1, "mirrored") == reference.measures(
        evidence.configs["baseline"].replace(seed=1))["mirrored"]
    partial = Evidence(evidence.configs, evidence.runs, {**evidence.histories, "D only": {0: evidence.histories["D only"][0]}},
                       {**evidence.sources, "D only": {0: "your run"}})
    assert partial.seeds("baseline") == [0, 1] and partial.common().seeds("baseline") == [0]
    assert len(evidence.measures("D only", "rotated")) == 2 and " ± " in evidence.measure_spread("D only", "rotated", True)
    line = evidence.band_line("baseline")
    assert "your run (seed 0)" in line and "holds no other seeds" in line  # one reference seed is no band
    table = evidence.table(("fid", "kid"))
    assert [row[0] for row in table.rows] == ["baseline", "D only", "DiffAugment"]
    assert all(" ± " in cell for row in table.rows for cell in row[1:3]) and "KID (classifier features, raw)" in str(table)


def test_reference_only_mode_trains_only_what_the_reference_lacks(quick_reference, capsys):
    reference = Reference.load(quick_reference)
    configs = lesson_configs("03", "quick")
    evidence = gather(configs, seeds=0, reference=reference, progress=False)
    assert all(source == "reference" for name in configs for source in evidence.sources[name].values())
    assert evidence.runs["baseline"] == [] and evidence.seeds() == [0, 1]
    other = {"steps 30": configs["baseline"].replace(steps=30)}  # not in the reference: its seed 0 trains
    evidence = gather(other, seeds=0, reference=reference, progress=False)
    assert evidence.sources["steps 30"] == {0: "your run"} and "holds no results for steps 30" in capsys.readouterr().out


def _reference_from(evidence: Evidence, name: str, fids: list[float]) -> Reference:
    """A reference whose seeds 1.. of ``name`` end at the given FIDs (every row of a seed at its value)."""
    config = evidence.configs[name]
    runs = {}
    for seed, fid in enumerate(fids, start=1):
        history = [dict(row, fid=fid) for row in evidence.histories[name][0]]
        runs[config.replace(seed=seed).key()] = {"config": {}, "history": history}
    return Reference({"runs": runs, "command": "test"})


def test_a_students_run_outside_the_reference_band_is_said_to_be_outside(quick_reference):
    configs = {"baseline": lesson_configs("03", "quick")["baseline"]}
    mine = gather(configs, seeds=1, reference=Reference.load(quick_reference), progress=False)
    fid = mine.value("baseline", 0)
    # a band far below the student's run: outside, "above"
    below = gather(configs, seeds=1, reference=_reference_from(mine, "baseline", [fid / 10, fid / 9, fid / 11]),
                   progress=False)
    line = below.band_line("baseline")
    assert "above the reference band" in line and "prediction interval from seeds 1, 2, 3" in line
    # a band around it: inside, with the band's numbers printed
    around = [fid * 0.9, fid * 1.1, fid]
    inside = gather(configs, seeds=1, reference=_reference_from(mine, "baseline", around), progress=False)
    mean, sd = mean_sd(around)
    half = 4.303 * sd * (1 + 1 / 3) ** 0.5  # Student's t, 2 degrees of freedom
    line = inside.band_line("baseline")
    assert "inside the reference band" in line and f"[{mean - half:.1f}, {mean + half:.1f}]" in line
    # and a band far above: "below"
    above = gather(configs, seeds=1, reference=_reference_from(mine, "baseline", [fid * 10, fid * 11, fid * 12]),
                   progress=False)
    assert "below the reference band" in above.band_line("baseline")


def test_prediction_interval_widens_with_fewer_seeds():
    half = 12.706 * 2 ** 0.5 * 1.5 ** 0.5  # t(0.975, 1) x sd x sqrt(1 + 1/2)
    assert prediction_interval([1.0, 3.0]) == pytest.approx((2 - half, 2 + half))
    low, high = prediction_interval([1.0, 3.0] * 20)
    assert high - low == pytest.approx(2 * 1.96 * mean_sd([1.0, 3.0] * 20)[1] * (1 + 1 / 40) ** 0.5)
    with pytest.raises(ValueError, match="two values at least; got 1"):
        prediction_interval([1.0])


def test_claims_count_the_seeds_where_they_hold():
    rows = lambda fid: [{"step": 1, "fid": fid, "kid": fid / 1000}]  # noqa: E731
    config = TrainConfig()
    evidence = Evidence(
        {"a": config, "b": config},
        {"a": [], "b": []},
        {"a": {0: rows(10.0), 1: rows(30.0), 2: rows(20.0)}, "b": {0: rows(15.0), 1: rows(25.0), 2: rows(25.0)}},
        {"a": dict.fromkeys(range(3), "reference"), "b": dict.fromkeys(range(3), "reference")},
    )
    line = evidence.claim("a beats b", lambda s: evidence.value("a", s) < evidence.value("b", s), "a", "b",
                          numbers=lambda s: f"{evidence.value('a', s):.0f} vs {evidence.value('b', s):.0f}")
    assert line == "a beats b: in 2 of 3 seeds (seed 0: 10 vs 15; seed 1: 30 vs 25; seed 2: 20 vs 25)"
    assert evidence.spread("a") == "20.0 ± 10.0" and evidence.spread("a", "kid") == "0.0 ± 0.0"  # raw on digits
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rising = lambda *fids: [{"step": 100 * (i + 1), "fid": f, "kid": 0.0} for i, f in enumerate(fids)]  # noqa: E731
    curves = Evidence({"a": config}, {"a": []}, {"a": {0: rising(900.0, 50.0, 60.0), 1: rising(800.0, 40.0, 70.0)}},
                      {"a": dict.fromkeys(range(2), "reference")})
    fig, ax = plt.subplots()
    curves.plot(ax, "fid", real_line=False, from_step=200)
    assert ax.get_ylim() == pytest.approx((0.0, 70.0 * 1.15))  # the late rise fills the axis
    plt.close(fig)
    assert curves.highest("fid") == 900.0 and curves.highest("fid", from_step=200) == 70.0  # cut off / sized to
    assert curves.highest("fid", ["a"], from_step=400) is None
    faces = Evidence({"a": TrainConfig(dataset="faces")}, {"a": []}, {"a": evidence.histories["a"]},
                     {"a": evidence.sources["a"]})
    assert faces.spread("a", "kid") == "20.0 ± 10.0" and faces.scale("kid") == (1000.0, "KID × 10³")


def test_the_shipped_reference_covers_every_lesson_at_its_seeds():
    """The committed notebooks draw their bands from this file: every run of every lesson, every seed, except
    the runs SHIPPED_SHORT names, which hold exactly the seeds it says (so the list cannot go stale)."""
    reference = Reference.load()
    assert reference.path == REFERENCE_FILE and reference.data["numerics_version"] == NUMERICS_VERSION
    assert reference.command.startswith("python -m diffaug_lessons reference --preset cpu")
    for lesson in LESSONS:
        for name, config in lesson_configs(lesson, "cpu").items():
            count = shipped_seeds(lesson, name)
            assert 0 <= count <= reference_seeds(lesson)
            held = [seed for seed in reference.seeds(config) if seed < reference_seeds(lesson)]
            assert held == list(range(count)), (
                f"lesson {lesson}: {name} holds seeds {held}, expected 0..{count - 1}; run `{reference.command}`")
            if count:
                assert reference.measures(config), f"lesson {lesson}: {name} has no sample measures"
    assert set(SHIPPED_SHORT) <= {(lesson, name) for lesson in LESSONS for name in lesson_configs(lesson, "cpu")}
    assert REFERENCE_FILE.stat().st_size < 1_500_000  # ~130 runs, 16 evaluations and 16 samples each: ~9 KB a run


def test_a_missing_or_foreign_reference_file_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m diffaug_lessons reference"):
        Reference.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a reference file"):
        Reference.load(tmp_path / "bad.json")


def test_strength_sweep_scales_every_transform_together():
    base = lesson_config("cpu", n_train=100, policy="color,translation,cutout")
    assert strength_config(base, "diffaugment", 1.0).key() == base.replace(strategy="diffaugment").key()
    assert strength_config(base, "d_only", 0.0).key() == base.replace(strategy="none").key()
    double = strength_config(base, "reals_only", 2.0)
    assert (double.translation_ratio, double.cutout_ratio, double.color_strength) == (0.25, 1.0, 2.0)
    assert SWEEP_STRENGTHS[0] == 0 and SWEEP_STRENGTHS[-1] > 1 and len(SWEEP_STRENGTHS) >= 4
    with pytest.raises(ValueError, match=r"strength must be a number in \[0, 2\]; got 3"):
        strength_config(base, "diffaugment", 3)
    with pytest.raises(ValueError, match="strategy must be one of none, reals_only"):
        strength_config(base, "both", 1.0)


def test_strength_one_is_the_recipe_and_the_sweep_scales_the_recipes_own_strengths():
    """s = 1 is whatever T the lessons train (the recipe study's choice), not the official strengths."""
    half = lesson_config("cpu", n_train=100, policy="translation,cutout", translation_ratio=0.0625, cutout_ratio=0.25)
    assert strength_config(half, "diffaugment", 1.0) == half.replace(strategy="diffaugment")
    double = strength_config(half, "d_only", 2.0)
    assert (double.policy, double.translation_ratio, double.cutout_ratio) == ("translation,cutout", 0.125, 0.5)
    assert double.color_strength == 1.0  # no colour op in this T: the field stays, the run is the same run
    full = lesson_config("cpu", n_train=100, policy="translation,cutout", strategy="diffaugment")
    assert strength_config(full, "diffaugment", 0.5).key() == half.replace(strategy="diffaugment").key()
    baseline = strength_config(half, "diffaugment", 0.0)
    assert baseline == half.without_t() and baseline.key() == lesson_config("cpu", n_train=100, strategy="none").key()
    big = lesson_config("cpu", n_train=100, translation_ratio=0.75, cutout_ratio=0.75, color_strength=1.5)
    capped = strength_config(big, "diffaugment", 2.0)  # each field stays inside its valid range
    assert (capped.translation_ratio, capped.cutout_ratio, capped.color_strength) == (1.0, 1.0, 2.0)


def test_strength_sweep_trains_the_shared_baseline_once():
    runs = strength_sweep("quick", strengths=(0.0, 2.0), strategies=("d_only", "diffaugment"), seeds=1,
                          progress=False, steps=4, eval_every=2)
    assert set(runs) == {(s, k, 0) for s in ("d_only", "diffaugment") for k in (0.0, 2.0)}
    assert runs[("d_only", 0.0, 0)].path == runs[("diffaugment", 0.0, 0)].path
    doubled = runs[("diffaugment", 2.0, 0)].config  # the lessons' T (translation,cutout) at twice its strengths
    assert (doubled.policy, doubled.translation_ratio, doubled.cutout_ratio) == ("translation,cutout", 0.25, 1.0)


def test_train_seeds_gives_runs_in_seed_order_and_refuses_bad_seeds(tiny_config):
    # eval_every=3: a config of its own, so the session cache's tiny_config runs (other tests') stay untouched
    runs = train_seeds({"a": tiny_config(eval_every=3), "same": tiny_config(eval_every=3)}, seeds=2, progress=False)
    assert [run.config.seed for run in runs["a"]] == [0, 1]
    assert [run.path for run in runs["a"]] == [run.path for run in runs["same"]]
    for bad in (0, [], [-1], [True], "3"):
        with pytest.raises(ValueError, match="seeds must be a positive count"):
            seed_list(bad)


def test_real_reference_puts_the_reals_on_the_metric_scale():
    config = lesson_config("quick", n_train=100)
    real = real_reference(config)
    assert real["n_train"] == 100 and real["n_heldout"] == config.n_heldout
    assert 0 <= real["fid"] and real["kid"] == pytest.approx(real["kid"])
    assert real_reference(config.replace(seed=1))["fid"] != real["fid"]  # another split, another value


def test_the_reference_command_refuses_unknown_lessons(capsys):
    assert cli.main(["reference", "--lessons", "09"]) == 2
    assert re.search(r"unknown lesson\(s\) 09; choose from 01, 02", capsys.readouterr().err)


def test_the_reference_keeps_samples_of_each_final_generator(quick_reference):
    """A lesson shows every seed's samples without training: the reference decodes them back to images."""
    from diffaug_lessons.evidence import N_SAMPLES_KEPT
    from diffaug_lessons.runs import finished_run

    reference = Reference.load(quick_reference)
    config = lesson_configs("03", "quick")["DiffAugment"].replace(seed=1)
    kept = reference.samples(config)
    assert kept.shape == (N_SAMPLES_KEPT, 1, 16, 16) and -1 <= kept.min() <= kept.max() <= 1
    run = finished_run(config)
    import torch

    z = torch.randn(N_SAMPLES_KEPT, config.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        drawn = run.generator()(z)
    assert (kept - drawn).abs().max() <= 1 / 127.5 + 1e-6  # the same images, to 8 bits
    assert reference.samples(config.replace(seed=7)) is None


def test_encoded_samples_round_trip_grey_and_colour_and_refuse_odd_shapes():
    import torch

    from diffaug_lessons.reference import decode_samples, encode_samples

    for shape in ((3, 1, 8, 8), (2, 3, 16, 16), (1, 1, 4, 4)):
        images = torch.rand(shape) * 2 - 1
        assert (decode_samples(encode_samples(images)) - images).abs().max() <= 0.5 / 127.5 + 1e-6
    for shape in ((0, 1, 8, 8), (2, 2, 8, 8), (8, 8)):
        with pytest.raises(ValueError, match="samples must be"):
            encode_samples(torch.zeros(shape))


def test_a_cached_only_rebuild_keeps_the_entries_the_cache_lacks(quick_reference, tmp_path):
    """A reference grows in parts: rebuilding from a cache that lost some runs keeps the file's old entries."""
    import shutil

    from diffaug_lessons.runs import finished_run

    out = tmp_path / "grown.json"
    shutil.copy(quick_reference, out)
    before = json.loads(out.read_text())
    lost = lesson_configs("03", "quick")["D only"].replace(seed=1)
    shutil.rmtree(finished_run(lost).path)
    build_reference(["03"], preset="quick", out=out, seeds=2, progress=False, cached_only=True)
    after = json.loads(out.read_text())
    assert after["runs"][lost.key()] == before["runs"][lost.key()]
    assert after["lessons"]["03"] == before["lessons"]["03"] and after["runs"].keys() == before["runs"].keys()


def test_best_fid_is_the_lowest_evaluation_and_tables_say_which_number_they_use():
    from diffaug_lessons.evidence import metric_scale

    history = [{"fid": value, "kid": value / 100} for value in (90.0, 40.0, 70.0, 60.0, 50.0)]
    assert summary_value(history, "fid") == pytest.approx(60.0)  # the last three
    assert summary_value(history, "best_fid") == 40.0 and summary_value(history, "best_kid") == 0.4
    config = TrainConfig(dataset="faces")
    assert metric_scale("best_fid", config) == (1.0, "best FID")
    assert metric_scale("best_kid", config) == (1000.0, "best KID × 10³")
    evidence = Evidence({"a": config}, {"a": []}, {"a": {0: history, 1: [{**row, "fid": row["fid"] + 10} for row in history]}},
                        {"a": dict.fromkeys(range(2), "reference")})
    table = evidence.table(("fid", "best_fid"))
    assert table.header[1:3] == ["FID", "best FID"] and table.rows[0][1:3] == ["65.0 ± 7.1", "45.0 ± 7.1"]
    assert "lowest value of any evaluation" in table.note


def test_sample_rows_come_from_the_reference_without_training_and_from_your_run_alike(quick_reference):
    import matplotlib

    matplotlib.use("Agg")
    reference = Reference.load(quick_reference)
    configs = lesson_configs("03", "quick")
    from_reference = gather(configs, seeds=0, reference=reference, progress=False)
    assert from_reference.runs == {name: [] for name in configs}  # nothing trained
    kept = from_reference.samples("baseline", 1)
    assert kept.shape[0] == 16 and torch.equal(kept, reference.samples(configs["baseline"].replace(seed=1)))
    mine = gather(configs, seeds=1, reference=reference, progress=False)  # seed 0 from the cache, as trained
    assert torch.equal(mine.samples("baseline", 0), reference.samples(configs["baseline"]))
    fig = mine.show_samples(["baseline", "DiffAugment"], labels={"baseline": "no T"})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["no T: seeds 0, 1, a row each (seed 0: your run)", "DiffAugment: seeds 0, 1, a row each (seed 0: your run)"]
    assert fig.axes[0].images[0].get_array().shape[0] > fig.axes[0].images[0].get_array().shape[1] / 16  # two rows


def test_a_log_axis_shows_every_decade_and_never_a_bottom_of_zero(quick_reference):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = gather(lesson_configs("03", "quick"), seeds=0, reference=Reference.load(quick_reference), progress=False)
    _, (linear, log) = plt.subplots(1, 2)
    ev.plot(linear, "fid", real_line=False)
    ev.plot(log, "fid", real_line=False, log=True)
    assert linear.get_yscale() == "linear" and linear.get_ylim()[0] == 0
    assert log.get_yscale() == "log" and 0 < log.get_ylim()[0] < min(ev.value(name, s) for name in ev.configs for s in ev.seeds())
    plt.close("all")
