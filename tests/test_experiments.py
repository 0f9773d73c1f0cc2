"""Artifact measures and the reproduce report."""

import re

import pytest
import torch

from diffaug_lessons.augment import DiffAugment
from diffaug_lessons.experiments import (
    artifact_measures,
    closer_to_mirrored,
    colour_statistics,
    flat_grey_patch,
    grey_border,
    nearest_rotation,
    parse_amount,
    reproduce,
    run_grid,
    spread,
    summarise,
)


def _digit_like(n=200):
    """Black background, a bright vertical stroke: no mid-grey anywhere."""
    images = torch.full((n, 1, 16, 16), -1.0)
    images[:, :, 3:13, 6:9] = 1.0
    return images


def test_cutout_patches_are_found_in_cutout_images_and_not_in_clean_ones():
    clean = _digit_like()
    assert flat_grey_patch(clean, 4).float().mean() == 0
    cut = DiffAugment(clean, "cutout", generator=torch.Generator().manual_seed(0))
    assert flat_grey_patch(cut, 4).float().mean() > 0.5


def test_grey_borders_come_from_translation():
    clean = _digit_like()
    assert grey_border(clean).float().mean() == 0
    moved = DiffAugment(clean, "translation", generator=torch.Generator().manual_seed(0))
    # every image with a non-zero shift gets a grey edge; shifts are uniform in {-2..2}^2
    assert abs(grey_border(moved).float().mean().item() - 24 / 25) < 0.04


def test_brightness_spread_grows_with_colour_augmentation():
    clean = _digit_like()
    bright = DiffAugment(clean, "brightness", generator=torch.Generator().manual_seed(0))
    assert colour_statistics(clean)["brightness_spread"] == 0
    assert colour_statistics(bright)["brightness_spread"] > 0.2
    assert set(artifact_measures(clean, 8)) >= {"cutout_patches", "grey_borders", "brightness_spread"}


def test_mirrored_samples_are_detected():
    train = torch.rand(30, 1, 8, 8) * 2 - 1
    assert not closer_to_mirrored(train, train).any()
    assert closer_to_mirrored(train.flip(3), train).all()


def test_summarise_averages_the_last_rows():
    history = [{key: float(step) for key in ("fid", "kid", "d_train", "d_heldout", "d_fake", "d_fake_aug", "acc_train",
                                             "acc_heldout", "acc_fake", "acc_fake_aug", "acc_train_aug", "d_gap")}
               for step in range(5)]
    assert summarise(history)["fid"] == 3.0 and summarise(history, last=1)["kid"] == 4.0


@pytest.mark.parametrize("text, fields", [("all", {"n_train": None, "fraction": None}),
                                          ("20%", {"n_train": None, "fraction": 0.2}),
                                          ("100", {"n_train": 100, "fraction": None})])
def test_parse_amount(text, fields):
    assert parse_amount(text) == fields


def test_parse_amount_refuses_nonsense():
    with pytest.raises(ValueError, match=r"data amount 'lots' is not understood"):
        parse_amount("lots")


def test_reproduce_writes_a_report_with_the_four_findings(tmp_path):
    report = reproduce(preset="quick", amounts=["64"], steps=6, out=tmp_path / "report")
    text = report.read_text()
    for strategy in ("baseline (no T)", "T on reals only", "T in D step only", "DiffAugment"):
        assert strategy in text
    assert text.count("- [") == 6  # one line per finding, ticked or not, with its numbers
    assert "For scale: the 64 training reals" in text
    assert (tmp_path / "report" / "samples.png").exists() and (tmp_path / "report" / "d_outputs.png").exists()


def test_reproduce_over_seeds_gives_spreads_and_counts_from_every_seed(tmp_path):
    report = reproduce(preset="quick", amounts=["64"], steps=6, out=tmp_path / "report", seeds=2)
    text = report.read_text()
    assert "--seeds 2" in text and "2 seed(s) (0, 1)" in text
    table = [line for line in text.splitlines() if line.startswith("| 64 (")]
    assert len(table) == 4 and all(line.count(" ± ") == 7 for line in table)
    findings = [line for line in text.splitlines() if line.startswith("- [")]
    assert len(findings) == 6 and all(re.search(r"in [012] of 2 seeds", line) for line in findings)
    # the spread comes from the two runs themselves
    grid = run_grid(["none"], ["64"], "quick", seeds=2, steps=6)
    fids = [row["fid"] for row in grid.summaries("none", "64")]
    assert fids[0] != fids[1]
    assert spread(fids) in table[0]


def test_spread_and_seed_checks():
    assert spread([1.0]) == "1.0"
    assert spread([1.0, 3.0]) == "2.0 ± 1.4"
    with pytest.raises(ValueError, match="seeds must be a positive count"):
        run_grid(["none"], ["64"], "quick", seeds=0)


def test_nearest_rotation_finds_quarter_turns():
    train = torch.rand(20, 1, 8, 8) * 2 - 1
    assert torch.equal(nearest_rotation(train, train), torch.zeros(20, dtype=torch.long))
    turned = torch.rot90(train, 1, dims=(2, 3))
    assert torch.equal(nearest_rotation(turned, train), torch.ones(20, dtype=torch.long))


def test_reproduce_on_the_faces_states_the_100_shot_protocol(tmp_path):
    report = reproduce(preset="quick", dataset="faces", steps=4, out=tmp_path / "report")
    text = report.read_text()
    assert "--dataset faces" in text and "held-out reals: none" in text and "100-shot" in text
