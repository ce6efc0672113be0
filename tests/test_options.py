"""Options objects: defaults once, validation, and the CLI groups built from them."""
from __future__ import annotations

import pytest

from microchimera import cli
from microchimera.errors import UsageError
from microchimera.options import CountFilters, QuantifyOptions, YChromOptions


def test_options__validate_on_construction():
    with pytest.raises(UsageError, match=r"alpha must be in \(0, 0.5\)"):
        QuantifyOptions(alpha=0.5)
    with pytest.raises(UsageError, match="max_depth_ratio must be > 1"):
        QuantifyOptions(max_depth_ratio=1.0)
    with pytest.raises(UsageError, match="min_mapq must be an integer"):
        CountFilters(min_mapq=-1)
    with pytest.raises(UsageError, match="not both"):
        YChromOptions(build="GRCh38", regions="y.bed")
    assert not YChromOptions().enabled and YChromOptions(regions="y.bed").enabled


@pytest.mark.parametrize("command", [["run", "x.bam", "--outdir", "o"], ["cohort", "m.tsv", "--outdir", "o"],
                                     ["count", "x.bam", "--sites", "s.vcf", "--out", "c.parquet"]])
def test_cli__count_filter_defaults_come_from_the_options_object(command):
    args = cli.get_parser().parse_args(command)
    assert cli.count_filters(args) == CountFilters()


@pytest.mark.parametrize("command", [["run", "x.bam", "--outdir", "o"], ["cohort", "m.tsv", "--outdir", "o"],
                                     ["quantify", "c.parquet", "--out", "r.json"]])
def test_cli__quantify_defaults_and_one_alpha_range(command, capsys):
    parser = cli.get_parser()
    assert cli.quantify_options(parser.parse_args(command)) == QuantifyOptions()
    assert parser.parse_args([*command, "--alpha", "0.01"]).alpha == 0.01
    for bad in ("0.5", "0", "1"):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([*command, "--alpha", bad])
        assert exc.value.code == 2
    assert "expected a number in (0, 0.5)" in capsys.readouterr().err


def test_cli__one_chry_mapq_flag_with_hidden_old_names():
    parser = cli.get_parser()
    assert parser.parse_args(["run", "x.bam", "--outdir", "o"]).y_min_mapq == YChromOptions().min_mapq
    assert parser.parse_args(["run", "x.bam", "--outdir", "o", "--y-min-mapq", "40"]).y_min_mapq == 40
    assert parser.parse_args(["cohort", "m.tsv", "--outdir", "o", "--y-min-mapq", "41"]).y_min_mapq == 41
    assert parser.parse_args(["cohort", "m.tsv", "--outdir", "o", "--ychrom-min-mapq", "42"]).y_min_mapq == 42
    ych = ["ychrom", "x.bam", "--build", "GRCh38", "--out", "y.json"]
    assert parser.parse_args([*ych, "--y-min-mapq", "43"]).y_min_mapq == 43
    assert parser.parse_args([*ych, "--min-mapq", "44"]).y_min_mapq == 44
    for sub in ("run", "cohort", "ychrom"):
        text = parser._subparsers._group_actions[0].choices[sub].format_help()
        assert "--y-min-mapq" in text and "--ychrom-min-mapq" not in text


def test_main__provenance_records_the_argv_given_to_main(tmp_path):
    import json

    out = tmp_path / "power.json"
    assert cli.main(["power", "--sites", "1000", "--depth", "50", "--out", str(out), "-q"]) == 0
    prov = json.loads(out.read_text())["provenance"]
    assert prov["command"] == f"microchimera power --sites 1000 --depth 50 --out {out} -q"
    assert "command_line" not in prov["parameters"]
