"""pyproject.toml is the single source of dependencies; environment.yml must follow it."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names where they differ from PyPI's
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base"}


def _requirements(lines):
    found = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*([<>=!~].*)?$", line.strip())
        if match:
            found[match.group(1).lower()] = (match.group(2) or "").replace(" ", "")
    return found


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirements(project["dependencies"] + project["optional-dependencies"]["dev"])
    text = (ROOT / "environment.yml").read_text()
    conda_part, pip_part = text.split("dependencies:")[1].split("  - pip:")
    conda = _requirements(line.strip()[2:] for line in conda_part.splitlines() if line.strip().startswith("- "))
    pip = _requirements(line.strip()[2:] for line in pip_part.splitlines() if line.strip().startswith("- "))
    listed = {**conda, **pip}
    for name, spec in wanted.items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in listed or name in listed, f"{name} is in pyproject.toml but not in environment.yml"
        assert listed.get(conda_name, listed.get(name)) == spec, f"{name}: pyproject says {spec!r}"
    extra = set(listed) - {CONDA_NAMES.get(n, n) for n in wanted} - {"python", "pip", "-e"}
    assert not extra, f"environment.yml lists {extra}, which pyproject.toml does not"
    assert "-e ." in pip_part, "environment.yml must install the package itself"


def test_embedded_data_ships_inside_installed_packages():
    """The CPU lessons' data comes from installed code, not from a download."""
    import sklearn.datasets

    from diffaug_lessons.data import digits, shapes

    assert Path(sklearn.datasets.__file__).parent.joinpath("data", "digits.csv.gz").exists()
    assert len(digits(16)) == 1797 and shapes(16).images.shape[1] == 3
