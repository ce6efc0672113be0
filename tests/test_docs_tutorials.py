"""The commands of every tutorial (docs/tutorials/*.md) run, so the tutorials cannot rot.

Each tutorial's fenced ```bash blocks are joined into one script and run with bash
(``set -euo pipefail``) in a fresh temporary directory that holds ``examples/``, with the
``microchimera`` and ``python`` of this interpreter's environment first on PATH. The script
must exit 0, and every file listed under the tutorial's "Files written" heading (each item
starts with the path in backticks, relative to the working directory) must exist afterwards.

* ``test_tutorial__commands_run_as_written``: with the repository's own ``examples/``, as a
  reader runs them. Only the quick one (male-dna-y: a small whole-genome scenario, about
  20 s) runs by default; the others are marked ``slow`` (``-m slow``): their scenarios write
  12-16 M reads, 1-2.5 minutes per tutorial on 2 cores.
* ``test_tutorial__commands_run_shrunk`` (default run, CI), for those slow ones:
  ``examples/`` is a shrunk copy of the repository's scenarios (the same people and samples,
  fewer sites, lower depth), so that each takes seconds; the commands themselves are run
  exactly as written, so a renamed option, a wrong path or a missing output still fails.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TUTORIALS = sorted(p for p in (ROOT / "docs" / "tutorials").glob("*.md") if p.name != "index.md")
# Run as written (the repository's own scenario) in the default run: under 30 s on 2 cores.
# The others write 12-16 M reads (1-2.5 min each): shrunk by default, as written under -m slow.
AS_WRITTEN_IN_CI = {"male-dna-y"}
SHRUNK_IN_CI = [p for p in TUTORIALS if p.stem not in AS_WRITTEN_IN_CI]

_BASH_BLOCK = re.compile(r"^```bash[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_FILES_HEADING = re.compile(r"^#+\s+Files written\s*$", re.M)
_LIST_PATH = re.compile(r"^[-*]\s+`([^`]+)`", re.M)


def bash_blocks(markdown: str) -> list[str]:
    """The contents of the fenced ```bash blocks, in order."""
    return [m.group(1) for m in _BASH_BLOCK.finditer(markdown)]


def files_written(markdown: str) -> list[str]:
    """Paths listed (``- `path` ...``) under the "Files written" heading, up to the next heading."""
    m = _FILES_HEADING.search(markdown)
    if m is None:
        return []
    section = re.split(r"^#", markdown[m.end():], maxsplit=1, flags=re.M)[0]
    return _LIST_PATH.findall(section)


def _shrink(text: str) -> str:
    """A scenario with the same people and samples, made small: few sites, low depth and,
    in whole-genome mode, short contigs.  Written back as TOML (only tables, arrays of
    tables, strings, numbers, booleans, lists and inline tables occur in the examples)."""
    data = tomllib.loads(text)
    seq = data.setdefault("sequencing", {})
    genome = data.setdefault("genome", {})
    if seq.get("whole_genome"):
        data.setdefault("panel", {})["n_sites"] = 400
        seq["depth"] = min(seq.get("depth", 100), 8)
        genome.update(autosome_length=100_000, chrx_length=100_000, chry_length=100_000)
    else:
        panel = data.setdefault("panel", {})
        panel["n_sites"] = min(panel.get("n_sites", 20000), 1500)
        seq["depth"] = min(seq.get("depth", 100), 40)
    return _to_toml(data)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(f"unexpected TOML value {v!r}")


def _to_toml(data: dict) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)
             and not (isinstance(v, list) and v and isinstance(v[0], dict))]
    for key, value in data.items():
        if isinstance(value, dict):
            if key == "family":
                for person in value.get("people", []):
                    lines += ["", "[[family.people]]"] + [f"{k} = {_toml_value(x)}" for k, x in person.items()]
                continue
            lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(x)}" for k, x in value.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines += ["", f"[[{key}]]"] + [f"{k} = {_toml_value(x)}" for k, x in item.items()]
    return "\n".join(lines) + "\n"


def _run_tutorial(path: Path, workdir: Path) -> None:
    markdown = path.read_text(encoding="utf-8")
    blocks = bash_blocks(markdown)
    written = files_written(markdown)
    assert blocks, f"{path.name}: no ```bash block"
    assert written, f"{path.name}: no file listed under a 'Files written' heading"
    script = workdir / "tutorial.sh"
    script.write_text("set -euo pipefail\n" + "\n".join(blocks), encoding="utf-8")
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("COLUMNS", None)
    proc = subprocess.run(["bash", str(script)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, (
        f"{path.name}: the tutorial's commands exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    missing = [f for f in written if not (workdir / f).exists()]
    assert not missing, f"{path.name}: said to be written but missing: {missing}"


def test_tutorials__present_and_parsed():
    """The eight use cases each have a tutorial with commands and a list of files."""
    assert len(TUTORIALS) >= 8, [p.name for p in TUTORIALS]
    for path in TUTORIALS:
        markdown = path.read_text(encoding="utf-8")
        assert bash_blocks(markdown) and files_written(markdown), path.name


def test_shrink__keeps_people_and_samples():
    for toml in sorted(EXAMPLES.glob("*.toml")):
        full, small = tomllib.loads(toml.read_text()), tomllib.loads(_shrink(toml.read_text()))
        assert small["family"] == full["family"] and small["samples"] == full["samples"], toml.name
        assert small["panel"]["n_sites"] <= full.get("panel", {}).get("n_sites", 20000)


@pytest.mark.parametrize("path", SHRUNK_IN_CI, ids=[p.stem for p in SHRUNK_IN_CI])
def test_tutorial__commands_run_shrunk(path, tmp_path):
    (tmp_path / "examples").mkdir()
    for toml in EXAMPLES.glob("*.toml"):
        (tmp_path / "examples" / toml.name).write_text(_shrink(toml.read_text()), encoding="utf-8")
    _run_tutorial(path, tmp_path)


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.stem, marks=() if p.stem in AS_WRITTEN_IN_CI else (pytest.mark.slow,))
    for p in TUTORIALS])
def test_tutorial__commands_run_as_written(path, tmp_path):
    (tmp_path / "examples").symlink_to(EXAMPLES, target_is_directory=True)
    _run_tutorial(path, tmp_path)
