"""The Snakemake workflow (workflows/snakemake) runs end to end on the simulated demo family
and gives the result.json that ``microchimera run`` gives on the same inputs.

Snakemake is a test extra (Python 3.11+); where it cannot be imported the tests that run it
are skipped, saying so.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "snakemake"
SNAKEFILE = WORKFLOW / "Snakefile"
#: Donor estimates compared between the workflow and `microchimera run`.
ESTIMATES = ("fraction", "ci95", "p_value")
#: Thread-count variables Snakemake sets for each job (snakemake/shell.py).
BLAS_THREADS = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

needs_snakemake = pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None,
    reason="snakemake is not importable: it is a test extra on Python 3.11+ (pip install '.[test]')",
)


def _env() -> dict[str, str]:
    """The environment of the workflow's jobs: this interpreter's `microchimera` first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    assert shutil.which("microchimera", path=env["PATH"]), "the microchimera console script is not installed"
    return env


def _snakemake(workdir: Path, configfile: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--snakefile", str(SNAKEFILE),
         "--configfile", str(configfile), "--directory", str(workdir), *extra],
        capture_output=True, text=True, env=_env(), timeout=timeout,
    )


def _bundled_config() -> dict:
    return yaml.safe_load((WORKFLOW / "config.yaml").read_text(encoding="utf-8"))


def _approx(value):
    """Equal to 1e-9 relative (an exact 0 stays an exact 0)."""
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return pytest.approx(value, rel=1e-9, abs=0)


@needs_snakemake
def test_workflow__demo_equals_cli_run(tmp_path):
    demo, workdir, reference = tmp_path / "demo", tmp_path / "work", tmp_path / "reference"
    subprocess.run([sys.executable, "-m", "microchimera", "simulate", "builtin:demo", "--outdir", str(demo),
                    "--seed", "5", "-q"], check=True, timeout=300)

    # the bundled example config, its inputs made absolute (the workflow runs in another directory)
    config = _bundled_config()
    for key in ("sites", "genotypes", "pedigree"):
        config[key] = str(demo / config[key])
    (sample, settings), = config["samples"].items()
    settings["bam"] = str(demo / settings["bam"])
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config), encoding="utf-8")

    # `microchimera run` on the same inputs, beside the workflow (two cores: both at once).
    # Snakemake runs a job with OMP/OpenBLAS/MKL_NUM_THREADS set to its threads (quantify: 1);
    # the fit's last digits depend on the BLAS thread count (a CI bound of the demo moves by
    # ~1e-9 relative), so the reference runs with the same.
    blas = {var: str(config["quantify"]["threads"]) for var in BLAS_THREADS}
    cli = subprocess.Popen(
        [sys.executable, "-m", "microchimera", "run", settings["bam"], "--genotypes", config["genotypes"],
         "--pedigree", config["pedigree"], "--host", settings["host"], "--donors", ",".join(settings["donors"]),
         "--sites", config["sites"], "--outdir", str(reference), "--no-report", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **blas},
    )
    try:
        proc = _snakemake(workdir, configfile)
    finally:
        _, cli_err = cli.communicate(timeout=300)
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stdout}\n{proc.stderr}"
    assert cli.returncode == 0, cli_err

    out = workdir / config["outdir"] / sample
    for name in ("counts.parquet", "result.json", "result.tsv", "report.html"):
        assert (out / name).stat().st_size > 0, name
    for step in ("count", "quantify", "report"):
        assert (workdir / config["logdir"] / step / f"{sample}.log").is_file(), step

    # the same allele counts (file metadata aside: it records paths and read statistics)
    assert pq.read_table(out / "counts.parquet").equals(pq.read_table(reference / "counts.parquet"))

    got = json.loads((out / "result.json").read_text(encoding="utf-8"))
    want = json.loads((reference / "result.json").read_text(encoding="utf-8"))
    assert got.keys() == want.keys()
    assert got["sample"] == want["sample"] and got["host"] == want["host"]
    assert [d["name"] for d in got["donors"]] == [d["name"] for d in want["donors"]] == settings["donors"]
    for g, w in zip([*got["donors"], got["contamination"]], [*want["donors"], want["contamination"]], strict=True):
        assert g.keys() == w.keys()
        for key in ESTIMATES:
            assert g[key] == _approx(w[key]), (g.get("name", "contamination"), key)
    # the config's options reached quantify as the CLI's defaults do
    assert got["provenance"]["parameters"] == want["provenance"]["parameters"]

    # outputs are declared completely: nothing is left to do
    again = _snakemake(workdir, configfile, "--dry-run")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout


@needs_snakemake
def test_workflow__user_strings_are_quoted(tmp_path):
    """A host ID or `extra` options with shell syntax reach the command as quoted words
    (dry run: nothing is executed, the inputs only need to exist)."""
    for name in ("s.bam", "s.bam.bai", "sites.vcf.gz", "family.vcf.gz", "family.ped"):
        (tmp_path / name).touch()
    config = {"samples": {"s1": {"bam": "s.bam", "host": "mother; touch pwned", "donors": ["son"]}},
              "sites": "sites.vcf.gz", "genotypes": "family.vcf.gz", "pedigree": "family.ped",
              "count": {"extra": "--region 'chr1' && touch pwned2"}}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = _snakemake(tmp_path, configfile, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "--host 'mother; touch pwned'" in text
    assert "--region chr1 '&&' touch pwned2" in text
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


@needs_snakemake
@pytest.mark.parametrize("sample, settings, message", [
    ("bad name", {"bam": "s.bam", "host": "mother"}, "bad name"),
    ("s1", {"bam": "s.bam", "host": "mother", "relationships": ["cousin"]}, "cousin"),
])
def test_workflow__config_is_validated(tmp_path, sample, settings, message):
    config = {"samples": {sample: settings}, "sites": "sites.vcf.gz"}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = _snakemake(tmp_path, configfile, "--dry-run")
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr


def test_workflow_env__pins_the_package_version():
    """envs/microchimera.yaml installs the version this checkout is."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    env = yaml.safe_load((WORKFLOW / "envs" / "microchimera.yaml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == [f"microchimera=={version}"]
    assert env["channels"][:2] == ["conda-forge", "bioconda"]
