"""The lessons' tables and findings: one function each, used by the notebooks and the README alike."""

import json
import re
from pathlib import Path

import pytest

from diffaug_lessons import findings
from diffaug_lessons.evidence import Evidence
from diffaug_lessons.lessons import lesson_configs
from diffaug_lessons.reference import Reference

ROOT = Path(__file__).parents[1]


def _fake_evidence(values):
    """Evidence over seeds 0-2 whose every history is one row: values[name][seed] -> {key: value}."""
    configs = {name: lesson_configs("08", "cpu")["DiffAugment"] for name in values}
    histories = {name: {seed: [{"step": 1, **row}] for seed, row in enumerate(rows)} for name, rows in values.items()}
    sources = {name: {seed: "reference" for seed in by_seed} for name, by_seed in histories.items()}
    return Evidence(configs, {name: [] for name in values}, histories, sources)


def test_pair_findings_count_the_seeds_where_each_claim_holds():
    row = lambda fid, d_train, d_fake: {"fid": fid, "d_train": d_train, "d_fake": d_fake}  # noqa: E731
    ev = _fake_evidence({
        findings.BASELINE: [row(10.0, 0.8, 0.2), row(10.0, 0.8, 0.2), row(10.0, 0.8, 0.2)],
        findings.DIFFAUGMENT: [row(5.0, 0.5, 0.4), row(9.0, 0.5, 0.4), row(12.0, 0.9, 0.1)],
    })
    lines = findings.pair_findings(ev, gap="d_train-d_fake")
    assert lines[0].startswith("DiffAugment's FID below the baseline's: in 2 of 3 seeds (seed 0: 5.00 vs 10.00, 0.50x")
    assert lines[1].startswith("DiffAugment's FID at most 0.8x the baseline's: in 1 of 3 seeds")
    assert "training reals from fakes less than the baseline's: in 2 of 3 seeds (seed 0: 0.10 vs 0.60" in lines[3]


def test_the_readme_results_section_is_what_the_lessons_functions_make_of_the_shipped_reference():
    try:
        section = findings.results_markdown()
    except ValueError as error:  # the reference lacks a lesson's run: the README must say it is incomplete
        assert "make it with `python -m diffaug_lessons reference" in str(error)
        pytest.skip(f"the shipped reference is incomplete: {error}")
    readme = (ROOT / "README.md").read_text()
    assert section in readme, "README's results section differs: paste `python -m diffaug_lessons results`"


def test_reference_evidence_trains_nothing_and_names_the_command_for_a_missing_run(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"runs": {}, "command": "python -m diffaug_lessons reference --preset cpu"}))
    with pytest.raises(ValueError, match=re.escape("make it with `python -m diffaug_lessons reference --preset cpu`")):
        findings.reference_evidence("08", Reference.load(empty))
    ev = findings.reference_evidence("08")  # the shipped reference holds lesson 08
    assert ev.runs == {name: [] for name in ev.configs} and len(ev.seeds()) >= 3
