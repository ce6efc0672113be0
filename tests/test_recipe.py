"""The bioconda-style recipe (recipe/meta.yaml) and pyproject.toml cannot drift apart: same
version, run requirements equal to [project] dependencies (names and lower bounds), host
requirements holding [build-system] requires.

conda-build is not installed in CI: the recipe's Jinja is rendered here with stand-ins for
conda-build's functions (``compiler``, ``pin_subpackage``), and selectors (``# [py<311]``)
are read from the raw lines.
"""
from __future__ import annotations

import re
from pathlib import Path

import jinja2
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipe" / "meta.yaml"
#: PyPI requirement (name[extras]) -> its conda package(s), where the names differ.
CONDA_NAMES = {
    "isal": ["python-isal"],
    "matplotlib": ["matplotlib-base"],
    "dask[distributed]": ["dask-core", "distributed"],
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _raw() -> str:
    return RECIPE.read_text(encoding="utf-8")


def _recipe() -> dict:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string(_raw()).render(
        PYTHON="python", compiler=lambda lang: f"{lang}-compiler",
        pin_subpackage=lambda name, max_pin=None: f"{name} (pinned {max_pin})")
    return yaml.safe_load(text)


def _conda_spec(spec: str) -> tuple[str, str | None]:
    """``'numpy >=1.24'`` -> ``('numpy', '1.24')``; no bound -> None."""
    name, _, constraint = spec.partition(" ")
    bound = re.fullmatch(r">=\s*(\S+)", constraint.strip())
    assert bound or not constraint.strip(), f"recipe requirement {spec!r}: only '>=' bounds mirror pyproject"
    return _normalise(name), bound.group(1) if bound else None


def _pep508(spec: str) -> tuple[str, str | None, str | None]:
    """``"tomli>=2.0; python_version < '3.11'"`` -> ``('tomli', '2.0', "python_version < '3.11'")``."""
    requirement, _, marker = spec.partition(";")
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+(?:\[[^\]]+\])?)\s*(?:>=\s*([^,\s]+))?\s*", requirement)
    assert match, f"pyproject requirement {spec!r}: expected NAME[>=VERSION]"
    return match.group(1), match.group(2), marker.strip() or None


def _selectors() -> dict[str, str]:
    """Requirement (or key, e.g. ``skip``) -> its selector, from the raw recipe lines."""
    found = {}
    for line in _raw().splitlines():
        match = re.match(r"\s*(?:-\s*)?([A-Za-z0-9_.-]+)[^#]*#\s*\[(.+)\]\s*$", line)
        if match:
            found[_normalise(match.group(1))] = match.group(2).replace(" ", "")
    return found


def _selector_of(marker: str | None) -> str | None:
    """The conda selector of a PEP 508 marker (only the ``python_version <`` form is used)."""
    if marker is None:
        return None
    match = re.fullmatch(r"python_version\s*<\s*['\"](\d+)\.(\d+)['\"]", marker)
    assert match, f"no selector known for the marker {marker!r}: extend tests/test_recipe.py"
    return f"py<{match.group(1)}{match.group(2)}"


def test_recipe__package_version_and_about_match_pyproject():
    project, recipe = _pyproject()["project"], _recipe()
    assert recipe["package"] == {"name": project["name"], "version": project["version"]}
    assert recipe["source"]["url"].endswith(f"/{project['name']}-{project['version']}.tar.gz")
    assert re.fullmatch(r"[0-9a-f]{64}", recipe["source"]["sha256"])
    assert recipe["about"]["license"] == project["license"]
    assert recipe["about"]["summary"] == project["description"]
    assert recipe["about"]["home"]


def test_recipe__build_is_compiled_pip_install_with_the_entry_point():
    recipe, project = _recipe(), _pyproject()["project"]
    build = recipe["build"]
    assert "noarch" not in build, "the Cython counting kernel makes the package platform-specific"
    assert build["script"].split() == ["python", "-m", "pip", "install", ".", "-vv", "--no-deps",
                                       "--no-build-isolation"]
    assert build["entry_points"] == [f"{name} = {target}" for name, target in project["scripts"].items()]
    assert recipe["requirements"]["build"] == ["c-compiler"]
    # skip the Pythons pyproject does not support
    assert project["requires-python"] == ">=3.10" and _selectors()["skip"].startswith("py<310")
    assert (ROOT / "src/microchimera/count/_kernels.pyx").is_file()
    assert "microchimera --help" in recipe["test"]["commands"]
    assert "microchimera" in recipe["test"]["imports"]


def test_recipe__run_requirements_equal_pyproject_dependencies():
    run = [_conda_spec(s) for s in _recipe()["requirements"]["run"]]
    assert run[0] == ("python", None)
    selectors = _selectors()
    expected = []
    for spec in _pyproject()["project"]["dependencies"]:
        name, bound, marker = _pep508(spec)
        for conda_name in CONDA_NAMES.get(name, [re.sub(r"\[.*\]", "", name)]):
            expected.append((_normalise(conda_name), bound))
            assert selectors.get(_normalise(conda_name)) == _selector_of(marker), (spec, conda_name)
    assert run[1:] == expected


def test_recipe__host_requirements_hold_the_build_system():
    host = dict(_conda_spec(s) for s in _recipe()["requirements"]["host"])
    assert host.keys() >= {"python", "pip"}
    for spec in _pyproject()["build-system"]["requires"]:
        name, bound, marker = _pep508(spec)
        assert marker is None
        assert host.get(_normalise(name), "missing") == bound, spec
