"""``microchimera simulate`` on the command line."""
import json

import pytest

from microchimera.cli import get_parser, main

BAD = """
[sequencing]
depth = -5

[[family.people]]
id = "a"
sex = "female"

[[samples]]
name = "s"
host = "a"
"""

GOOD = """
name = "tiny"
[panel]
n_sites = 100
[sequencing]
depth = 10
[[family.people]]
id = "mom"
sex = "female"
[[family.people]]
id = "kid"
sex = "male"
mother = "mom"
[[samples]]
name = "s"
host = "mom"
donors = { kid = 0.01 }
"""


def test_simulate_parser__options():
    args = get_parser().parse_args(["simulate", "x.toml", "--outdir", "o", "--seed", "5"])
    assert args.seed == 5 and args.outdir == "o" and args.runner.__name__ == "run_simulate"


@pytest.mark.parametrize("text, match", [
    (BAD, "sequencing.depth: must be > 0, found -5"),
    (BAD.replace("depth = -5", "deptth = 5"), "sequencing.deptth: unknown key; did you mean 'depth'?"),
    (GOOD.replace('mother = "mom"', 'mother = "X"'), "family.people[1].mother: unknown person 'X'"),
    (GOOD.replace("kid = 0.01", "kid = 0.99, mom2 = 0.1"), "samples[0].donors.mom2: unknown person"),
])
def test_simulate_cli__bad_scenario_exit_2_one_line(tmp_path, capsys, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code = main(["simulate", str(path), "--outdir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("microchimera: error: ")
    assert match in err


def test_simulate_cli__runs_and_records_seed(tmp_path, capsys):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert main(["simulate", str(path), "--outdir", str(tmp_path / "out"), "--seed", "42", "--quiet"]) == 0
    truth = json.loads((tmp_path / "out" / "truth.json").read_text())
    assert truth["seed"] == 42
    assert (tmp_path / "out" / "s.bam.bai").exists()
    # no --seed: one is generated and recorded
    assert main(["simulate", str(path), "--outdir", str(tmp_path / "out2")]) == 0
    assert isinstance(json.loads((tmp_path / "out2" / "truth.json").read_text())["seed"], int)
    assert "seed=" in capsys.readouterr().out


def test_simulate_cli__builtin_unknown(tmp_path, capsys):
    assert main(["simulate", "builtin:nope", "--outdir", str(tmp_path)]) == 2
    assert "no built-in scenario 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["sigint", "sigterm"])
def test_simulate_cli__interrupted_leaves_no_hidden_partial_bam(tmp_path, capsys, monkeypatch, how):
    """Issue 16 item 6: an interrupted simulate left a hidden '.<sample>.bam.tmp' (159 MB).

    The interruption comes from inside the BAM writer, after it has written part of the file:
    Ctrl-C as KeyboardInterrupt, SIGTERM as a real signal to this process (the CLI turns it
    into an exception in the main thread, so the open temporary file is removed)."""
    import importlib
    import os
    import signal

    simulate_module = importlib.import_module("microchimera.sim.simulate")  # the module, not sim.simulate()

    def writer(path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"\x1f\x8b partial BAM")
        if how == "sigint":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the writer")  # pragma: no cover

    monkeypatch.setattr(simulate_module, "write_sample_bam", writer)
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    out = tmp_path / "out"
    code = main(["simulate", str(path), "--outdir", str(out), "--seed", "1", "--quiet"])
    assert code == (130 if how == "sigint" else 143)
    assert "Traceback" not in capsys.readouterr().err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".bam")]
    assert signal.getsignal(signal.SIGTERM) is not None  # main() put the previous handler back
