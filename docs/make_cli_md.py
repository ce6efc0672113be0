"""Write docs/cli.md from the argument parser: ``python docs/make_cli_md.py`` (a test checks it is current)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HEADER = """# Command line reference

Generated from `microchimera.cli.get_parser()` by `python docs/make_cli_md.py`; do not edit by hand
(`tests/test_docs_cli.py` fails when this file is stale).

## Exit codes

| code | meaning | examples |
|---|---|---|
| 0 | success | |
| 1 | data or runtime problem: a bad, missing or inconsistent input file, a failed fit, an unwritable output | BAM without index, truncated BAM, CRAM without `--reference`, contigs that match in no spelling, REF alleles that differ from the FASTA (wrong build), host not in the PED, malformed PED, empty BAM, output directory missing, disk full (no half file is left) |
| 2 | usage problem: a bad option or option value, a bad scenario key | `--sites 0`, unknown `--relationship`, `--plot x.txt` |
| 3 | partial failure: some samples of a cohort failed (each recorded) | `cohort` |
| 130 | interrupted (Ctrl-C) | |

Errors are one line on stderr, `microchimera: error: <file>: <what was expected and what was found>`;
a traceback means a bug. `-v`/`-vv` add INFO/DEBUG logging on stderr; `-q` keeps errors only and turns
off progress bars (which are also off when stderr is not a terminal).
"""


def render() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from microchimera.cli import get_parser

    parser = get_parser()
    out = [HEADER, "## microchimera\n", "```", parser.format_help().rstrip(), "```\n"]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        p.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
        out += [f"## microchimera {name}\n", "```", p.format_help().rstrip(), "```\n"]
    return "\n".join(out)


if __name__ == "__main__":
    import os

    os.environ["COLUMNS"] = "100"
    (Path(__file__).parent / "cli.md").write_text(render(), encoding="utf-8")
