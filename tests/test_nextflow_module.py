"""Lint of the nf-core-style module modules/nf-core/microchimera/run without Nextflow.

Nextflow and nf-test are not installed in CI, so the module's nf-test
(tests/main.nf.test) cannot run here; these checks keep main.nf, meta.yml, environment.yml
and the tool's CLI from drifting apart. The module's README.md says what is left unchecked.
"""
from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "modules" / "nf-core" / "microchimera" / "run"
PROCESS = "MICROCHIMERA_RUN"
#: Stand-in for ${prefix} when matching output paths against patterns.
PREFIX = "sample1"


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _main() -> str:
    return (MODULE / "main.nf").read_text(encoding="utf-8")


def _meta() -> dict:
    return yaml.safe_load((MODULE / "meta.yml").read_text(encoding="utf-8"))


def _section(text: str, start: str, end: str) -> str:
    """The lines of a process between the labels ``start:`` and ``end:``."""
    match = re.search(rf"^\s*{start}:\s*$(.*?)^\s*{end}:\s*$", text, re.S | re.M)
    assert match, f"main.nf has no '{start}:' section followed by '{end}:'"
    return match.group(1)


def _elements(line: str) -> list[str]:
    """Names of a channel declaration's elements: ``tuple val(meta), path(bam)`` ->
    ``['meta', 'bam']``; ``path("x/y.json")`` and ``path "versions.yml"`` -> the pattern."""
    line = line.split(", emit:")[0].split(",emit:")[0]
    names = re.findall(r"\b(?:val|path)\(\s*(?:\"([^\"]+)\"|'([^']+)'|(\w+))\s*\)", line)
    names = [next(n for n in groups if n) for groups in names]
    if not names:
        bare = re.match(r"\s*(?:val|path)\s+(?:\"([^\"]+)\"|'([^']+)'|(\w+))", line)
        assert bare, f"cannot read the channel declaration {line!r}"
        names = [next(n for n in bare.groups() if n)]
    return names


def _inputs() -> list[list[str]]:
    lines = _section(_main(), "input", "output").splitlines()
    return [_elements(line) for line in lines if line.strip()]


def _outputs() -> dict[str, tuple[list[str], bool]]:
    """emit name -> (element names, optional)."""
    out = {}
    for line in _section(_main(), "output", "when").splitlines():
        if not line.strip():
            continue
        emit = re.search(r"emit:\s*(\w+)", line)
        assert emit, f"output without emit: {line!r}"
        out[emit.group(1)] = (_elements(line), bool(re.search(r"optional:\s*true", line)))
    return out


def _entry_names(entry) -> list[str]:
    """meta.yml channel entry (a list of one-key maps for a tuple, else one map) -> names."""
    items = entry if isinstance(entry, list) else [entry]
    assert all(isinstance(i, dict) and len(i) == 1 for i in items), entry
    return [next(iter(i)) for i in items]


def _entry_docs(entry) -> list[tuple[str, dict]]:
    items = entry if isinstance(entry, list) else [entry]
    return [next(iter(i.items())) for i in items]


def test_meta_yml__nf_core_keys():
    meta = _meta()
    for key in ("name", "description", "keywords", "tools", "input", "output", "authors", "maintainers"):
        assert meta.get(key), f"meta.yml lacks '{key}'"
    assert meta["name"] == "microchimera_run" == MODULE.relative_to(MODULE.parents[1]).as_posix().replace("/", "_")
    assert len(meta["keywords"]) >= 3 and all(k == k.lower() for k in meta["keywords"])
    (tool,) = meta["tools"]
    (name, info), = tool.items()
    assert name == "microchimera"
    for key in ("description", "homepage", "documentation", "licence"):
        assert info.get(key), f"tools.microchimera lacks '{key}'"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert info["licence"] == [pyproject["license"]]
    assert all(a.startswith("@") for a in meta["authors"] + meta["maintainers"])
    # every documented element has a type and description, files a pattern
    entries = [*meta["input"], *(e for chan in meta["output"].values() for e in chan)]
    for entry in entries:
        for name, doc in _entry_docs(entry):
            assert doc.get("type") in {"map", "file", "directory", "string", "integer", "float", "boolean", "list"}, name
            assert doc.get("description"), name
            if doc["type"] == "file":
                assert doc.get("pattern"), name


def test_meta_yml__documents_exactly_the_inputs_of_main_nf():
    assert [_entry_names(e) for e in _meta()["input"]] == _inputs() == [
        ["meta", "bam", "bai"], ["meta2", "genotypes", "pedigree"], ["meta3", "sites"], ["meta4", "fasta"]]


def test_meta_yml__documents_exactly_the_outputs_of_main_nf():
    documented = _meta()["output"]
    declared = _outputs()
    assert documented.keys() == declared.keys()
    for emit, (names, _optional) in declared.items():
        (entry,) = documented[emit]
        assert _entry_names(entry) == names, emit
        # the file pattern documented matches the path main.nf declares
        for name, doc in _entry_docs(entry):
            if doc["type"] == "file":
                path = name.replace("${prefix}", PREFIX).replace("*", "x_microchimera")
                assert fnmatch.fnmatch(path, doc["pattern"]), (emit, name, doc["pattern"])
    assert declared["versions"] == (["versions.yml"], False)


def test_main_nf__nf_core_parts():
    text = _main()
    assert re.search(rf"^process {PROCESS} \{{", text, re.M)
    assert 'tag "$meta.id"' in text
    assert "label 'process_medium'" in text
    assert 'conda "${moduleDir}/environment.yml"' in text
    assert re.search(r"^\s*container ", text, re.M)
    assert "task.ext.args" in text and "task.ext.prefix" in text
    assert "task.ext.when == null || task.ext.when" in text
    script = _section(text, "script", "stub")
    assert "versions.yml" in script and '"${task.process}":' in script
    assert "microchimera: $(microchimera --version" in script.replace("\\$", "$")


def test_main_nf__stub_writes_every_output():
    text = _main()
    stub = text[text.index("stub:"):]
    made = {p.replace("${prefix}", PREFIX) for p in re.findall(r"(?:touch|>)\s+(\S+)", stub)}
    for emit, (names, _optional) in _outputs().items():
        pattern = names[-1].replace("${prefix}", PREFIX)
        assert any(fnmatch.fnmatch(path, pattern) for path in made), f"the stub writes nothing for '{emit}'"


def test_main_nf__passes_only_options_of_run():
    script = _section(_main(), "script", "stub")
    command = script[:script.index("END_VERSIONS")]  # the versions heredoc is not `run`
    used = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", command))
    assert {"--sites", "--genotypes", "--pedigree", "--host", "--donors", "--outdir"} <= used
    helptext = subprocess.run([sys.executable, "-m", "microchimera", "run", "--help"],
                              capture_output=True, text=True, check=True, timeout=60).stdout
    known = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", helptext))
    assert used <= known, f"not options of `microchimera run`: {sorted(used - known)}"
    assert re.search(r"microchimera run \\\\\n\s+\$\{bam\}", script), "main.nf does not call `microchimera run ${bam}`"


def test_environment__pins_the_package_version():
    env = yaml.safe_load((MODULE / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"] == ["conda-forge", "bioconda"]
    assert env["dependencies"] == [f"bioconda::microchimera={_version()}"]
    for nf in (MODULE / "main.nf", MODULE / "tests" / "simulate_demo.nf"):
        tags = re.findall(r"microchimera:([0-9][^'\"-]*)", nf.read_text(encoding="utf-8"))
        assert tags and set(tags) == {_version()}, nf.name


def test_nf_test__runs_the_module_and_its_stub():
    test = (MODULE / "tests" / "main.nf.test").read_text(encoding="utf-8")
    for expected in ('script "../main.nf"', f'process "{PROCESS}"', 'config "./nextflow.config"',
                     'options "-stub"', 'script "./simulate_demo.nf"', 'run("MICROCHIMERA_SIMULATE_DEMO")'):
        assert expected in test
    assert test.count("test(") == 2
    assert (MODULE / "tests" / "nextflow.config").is_file()
    helper = (MODULE / "tests" / "simulate_demo.nf").read_text(encoding="utf-8")
    assert "process MICROCHIMERA_SIMULATE_DEMO {" in helper and "stub:" in helper
    # the version the tests expect in versions.yml is this checkout's
    assert set(re.findall(r"microchimera == '([^']+)'", test)) == {_version()}
