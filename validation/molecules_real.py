"""Molecules vs sites on real reads: HG002 read pairs mixed into NA12878 (issue 13).

The shared set ``na12878_hg002_chr20_100kb_b37_deepvariant`` holds real Illumina reads of
two unrelated people over the same 100 kb of chr20: NA12878 (Platinum, 50x) and HG002
(30x).  Each replicate keeps every NA12878 read and a random subset of HG002's read pairs
(``samtools view --subsample``, a fresh seed each time), so the mixture has real sequencing
errors, real insert sizes and real linked SNPs, which no simulator of ours made.  Sites are
NA12878's NIST truth variants (SNPs); NA12878 is typed from that truth set (sites absent
from it are hom-ref in the high-confidence BED), HG002 from its own reads (alt share < 0.1:
0/0, > 0.9: 1/1, else 0/1; sites with fewer than 10 reads are dropped).  The truth is
HG002's share of the mixture's fragments at the sites.  Both evidence models are run on
the same counts and fragments; HG002 is an unrelated typed donor, so its molecules are
the observations at sites where both are homozygous (docs/model.md).

Run: ``python validation/molecules_real.py --reps 20`` (needs samtools and ``../shared/data/real``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from microchimera.count import count_alleles
from microchimera.io.genotypes import GenotypeMatrix
from microchimera.io.pedigree import Pedigree
from microchimera.io.sites import read_sites
from microchimera.model import quantify
from microchimera.options import QuantifyOptions

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "na12878_hg002_chr20_100kb_b37_deepvariant"
HOST_BAM = REAL / "NA12878_S1.chr20.10_10p1mb.bam"
DONOR_BAM = REAL / "HG002_NIST_150bp_downsampled_30x.chr20.10_10p1mb.bam"
TRUTH_VCF = REAL / "test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
PED = Pedigree.from_records([("A", "NA12878", None, None, 2), ("B", "HG002", None, None, 1)])


def _sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True)


def prepare(work: Path) -> tuple[Path, Path]:
    """The sites VCF with ``chr20`` naming, and HG002's BAM renamed to ``chr20`` (the two BAMs
    name the contig differently)."""
    sites = work / "sites.vcf.gz"
    _sh(f"zcat {TRUTH_VCF} | awk 'BEGIN{{OFS=\"\\t\"}} /^##contig=<ID=20,/{{sub(\"ID=20,\",\"ID=chr20,\")}} "
        f"/^#/{{print; next}} {{$1=\"chr20\"; print}}' | bgzip > {sites} && tabix -f -p vcf {sites}")
    donor = work / "hg002.bam"
    # The donor's reads join the host's sample: one read group, SM = NA12878.
    _sh(f"samtools view -h {DONOR_BAM} | sed -e 's/SN:20\\b/SN:chr20/' -e 's/\\t20\\t/\\tchr20\\t/' "
        f"| samtools addreplacerg -m overwrite_all -r 'ID:hg002\\tSM:NA12878' -o {donor} - "
        f"&& samtools index {donor}")
    return sites, donor


def genotypes(sites_path: Path, donor_bam: Path):
    """NA12878 from the truth VCF, HG002 from its own reads; the sites both are known at."""
    import pysam

    sites = read_sites(sites_path)
    host = np.zeros(sites.n_sites, np.int8)
    with pysam.VariantFile(str(sites_path)) as vf:
        gts = {(r.chrom, r.pos - 1): sum(a or 0 for a in r.samples[0]["GT"]) for r in vf}
    for i, (c, p) in enumerate(zip(sites.chrom, sites.pos, strict=True)):
        host[i] = gts.get((c, int(p)), 0)
    dc = count_alleles([donor_bam], sites)
    n = (dc.ref_count + dc.alt_count)[0].astype(float)
    share = np.divide(dc.alt_count[0], n, out=np.zeros_like(n), where=n > 0)
    donor = np.where(share < 0.1, 0, np.where(share > 0.9, 2, 1)).astype(np.int8)
    ok = n >= 10
    return sites, host, donor, ok


def replicate(seed: int, rate: float, work: Path, sites, gm, donor_bam: Path) -> list[dict]:
    sub = work / f"sub{seed}.bam"
    _sh(f"samtools view -b --subsample {rate} --subsample-seed {seed} -o {sub} {donor_bam}")
    mixed = work / f"mix{seed}.bam"
    _sh(f"samtools merge -f -u -o - {HOST_BAM} {sub} | samtools sort -o {mixed} - && samtools index {mixed}")
    res = count_alleles([mixed], sites, fragments=True)
    host_only = count_alleles([HOST_BAM], sites)
    n_mix = float((res.counts.ref_count + res.counts.alt_count)[0].sum())
    n_host = float((host_only.ref_count + host_only.alt_count)[0].sum())
    truth = 1.0 - n_host / n_mix
    rows = []
    for ev in ("sites", "molecules"):
        r = quantify(res.counts, host="NA12878", donors=["HG002"], pedigree=PED, genotypes=gm, sites=sites,
                     fragments=res.fragments, options=QuantifyOptions(relatedness=False, evidence=ev))
        d = r.donors[0]
        rows.append({"seed": seed, "rate": rate, "truth": truth, "evidence": ev, "fraction": d.fraction,
                     "low": d.ci95[0], "high": d.ci95[1], "lod": d.lod, "molecules": r.evidence.molecules})
    for p in (sub, mixed, Path(str(mixed) + ".bai")):
        p.unlink(missing_ok=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--rate", type=float, default=0.2, help="share of HG002's read pairs kept")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "molecules_real.json"))
    a = p.parse_args(argv)
    if not HOST_BAM.exists():
        print(f"{REAL}: not present", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sites_path, donor_bam = prepare(work)
        sites, host, donor, ok = genotypes(sites_path, donor_bam)
        sites = sites.take(np.flatnonzero(ok))
        gm = GenotypeMatrix(("NA12878", "HG002"), np.stack([host[ok], donor[ok]]), np.full(sites.n_sites, np.nan))
        rows = []
        for seed in range(1, a.reps + 1):
            rows += replicate(seed, a.rate, work, sites, gm, donor_bam)
            r = rows[-2:]
            print(f"seed {seed}: truth {r[0]['truth']:.4f}  sites {r[0]['fraction']:.4f} [{r[0]['low']:.4f}, "
                  f"{r[0]['high']:.4f}]  molecules {r[1]['fraction']:.4f} [{r[1]['low']:.4f}, {r[1]['high']:.4f}] "
                  f"({r[1]['molecules']} molecules)", flush=True)
    out = {"rate": a.rate, "sites": int(sites.n_sites), "rows": rows}
    for ev in ("sites", "molecules"):
        rs = [r for r in rows if r["evidence"] == ev]
        est = np.array([r["fraction"] / r["truth"] for r in rs])
        out[ev] = {"rel_bias": float(est.mean() - 1), "rel_bias_se": float(est.std(ddof=1) / np.sqrt(len(rs))),
                   "coverage": float(np.mean([r["low"] <= r["truth"] <= r["high"] for r in rs])),
                   "median_ci_width": float(np.median([r["high"] - r["low"] for r in rs]))}
        print(f"{ev:10} bias {out[ev]['rel_bias']:+.3f} ± {out[ev]['rel_bias_se']:.3f}  coverage "
              f"{out[ev]['coverage']:.2f}  median CI width {out[ev]['median_ci_width']:.4f}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
