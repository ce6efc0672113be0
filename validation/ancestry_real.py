"""The host's ancestry on real data (issue 18): what the shared real reads allow.

1. Every real BAM of ``../shared/data/real/`` (GIAB Ashkenazi trio, GRCh38; CEPH 1463 trio,
   NA12878 and HG002 slices, GRCh37) is counted at the built-in 100k panel of its build, and
   :func:`~microchimera.model.ancestry.host_ancestry` is run as ``quantify --ancestry auto``
   would: the slices are 10-100 kb (48 kb for GIAB), so they hold 0-4 markers and the stage
   falls back to the sites' AF, saying why.
2. NA12892 (CEPH/Utah) from GATK's real GetPileupSummaries tables (1%-8% NA12891 spiked in;
   34,139 sites genome-wide, 921 of them panel markers): placed from its counts.
3. NA12878 (CEPH/Utah) from the GIAB v3.3.2 chr20 calls shipped with the CEPH trio: 2,602
   chr20 markers of the b37 100k panel, genotypes turned into 30-read pseudo-counts (a marker
   absent from the VCF taken as hom-ref, which assumes the calls cover it).

Run: ``python validation/ancestry_real.py`` (prints a table; results in
``validation/results/ancestry_real.json``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
BAMS = {
    "HG002 (GIAB AJ son)": ("giab_aj_trio_grch38_24regions_kmer_denovo_filter/HG002_child.bam", "GRCh38"),
    "HG003 (GIAB AJ father)": ("giab_aj_trio_grch38_24regions_kmer_denovo_filter/HG003_father.bam", "GRCh38"),
    "HG004 (GIAB AJ mother)": ("giab_aj_trio_grch38_24regions_kmer_denovo_filter/HG004_mother.bam", "GRCh38"),
    "NA12878 (CEPH daughter)": ("ceph1463_trio_chr20_b37_deeptrio/HG001.chr20.10_10p1mb_sorted.bam", "GRCh37"),
    "NA12891 (CEPH father)": ("ceph1463_trio_chr20_b37_deeptrio/NA12891.chr20.10_10p1mb_sorted.bam", "GRCh37"),
    "NA12892 (CEPH mother)": ("ceph1463_trio_chr20_b37_deeptrio/NA12892.chr20.10_10p1mb_sorted.bam", "GRCh37"),
    "NA12878 (Platinum 50x)": ("na12878_hg002_chr20_100kb_b37_deepvariant/NA12878_S1.chr20.10_10p1mb.bam",
                               "GRCh37"),
    "HG002 (NIST 30x)": ("na12878_hg002_chr20_100kb_b37_deepvariant/"
                         "HG002_NIST_150bp_downsampled_30x.chr20.10_10p1mb.bam", "GRCh37"),
}


def reads_rows() -> list[dict]:
    from microchimera.count import count_alleles
    from microchimera.io.panels import load_builtin
    from microchimera.model.ancestry import host_ancestry

    rows = []
    for name, (rel, build) in BAMS.items():
        panel = load_builtin(f"1000g-100k-{build}")
        counts = count_alleles([REAL / rel], panel.sites)
        ref, alt = counts.ref_count[0].astype(np.int64), counts.alt_count[0].astype(np.int64)
        _, est = host_ancestry(panel.sites, ref, alt, np.ones(panel.n_markers, bool), panel.sites.af, "auto",
                               panel.name)
        rows.append({"sample": name, "source": "reads", "panel": panel.name,
                     "markers_with_reads": int(((ref + alt) > 0).sum()), "used": est.used,
                     "nearest": est.nearest_population, "superpopulation": est.nearest_superpopulation,
                     "note": est.note})
    return rows


def gatk_rows() -> list[dict]:
    from microchimera.io.allele_counts import read_counts_any
    from microchimera.io.panels import load_builtin
    from microchimera.model.ancestry import estimate_coordinates

    panel = load_builtin("1000g-100k-GRCh37")
    rows = []
    for table in sorted((REAL / "gatk_calculatecontamination_NA12891_in_NA12892").glob("*.table")):
        c = read_counts_any(table, None)
        idx = panel.match(c.sites)
        use = (idx >= 0) & (c.ref_count[0] + c.alt_count[0] > 0)
        v, ll, se = estimate_coordinates(panel, idx[use], c.ref_count[0][use], c.alt_count[0][use])
        pop, sp, _ = panel.nearest(v)
        rows.append({"sample": f"NA12892 ({table.stem.split('_')[1]} NA12891)", "source": "GATK counts",
                     "panel": panel.name, "markers_with_reads": int(use.sum()), "used": True, "nearest": pop,
                     "superpopulation": sp, "coordinates": v.round(4).tolist(), "se": round(se, 4),
                     "log_lr_vs_pooled": round(ll, 1)})
    return rows


def na12878_row() -> dict:
    import pysam

    from microchimera.io.panels import load_builtin
    from microchimera.model.ancestry import estimate_coordinates

    panel = load_builtin("1000g-100k-GRCh37")
    vcf = REAL / "ceph1463_trio_chr20_b37_deeptrio" / "test_hg001_giab_grch37_chr20_100kbp_at_10mb.vcf.gz"
    sel = np.flatnonzero(panel.sites.chrom == "20")
    calls = {}
    previous = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(str(vcf)) as vf:
            for rec in vf:
                if len(rec.alts or ()) == 1 and len(rec.ref) == len(rec.alts[0]) == 1:
                    calls[rec.pos - 1] = (rec.ref, rec.alts[0], sum(a for a in rec.samples[0]["GT"] if a is not None))
    finally:
        pysam.set_verbosity(previous)
    keep, ref, alt = [], [], []
    for j in sel:
        dose = 0
        if panel.sites.pos[j] in calls:
            r, a, dose = calls[panel.sites.pos[j]]
            if r != "ACGT"[panel.sites.ref[j]] or a != "ACGT"[panel.sites.alt[j]]:
                continue
        keep.append(j)
        alt.append(15 * dose)
        ref.append(30 - 15 * dose)
    v, ll, se = estimate_coordinates(panel, np.array(keep), np.array(ref), np.array(alt))
    pop, sp, _ = panel.nearest(v)
    return {"sample": "NA12878 (GIAB chr20 calls)", "source": "genotypes", "panel": panel.name,
            "markers_with_reads": len(keep), "used": True, "nearest": pop, "superpopulation": sp,
            "coordinates": v.round(4).tolist(), "se": round(se, 4), "log_lr_vs_pooled": round(ll, 1)}


def loo_accuracy() -> dict:
    """Leave-one-out 10-nearest-neighbour vote of the 1000 Genomes samples themselves: how well
    the panel's 4 axes can tell populations and super-populations apart at all."""
    from microchimera.io.panels import load_builtin

    panel = load_builtin("1000g-100k-GRCh37")
    v = panel.coordinates
    d = ((v[:, None, :] - v[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)[:, :10]

    def vote(labels):
        out = []
        for r in near:
            vals, counts = np.unique(labels[r], return_counts=True)
            out.append(vals[np.argmax(counts)])
        return np.array(out)

    vp, vs = vote(panel.populations), vote(panel.superpopulations)
    ceu = panel.populations == "CEU"
    return {"superpopulation": float((vs == panel.superpopulations).mean()),
            "population": float((vp == panel.populations).mean()),
            "CEU_as_CEU": float((vp[ceu] == "CEU").mean()), "CEU_as_GBR": float((vp[ceu] == "GBR").mean())}


def main(argv=None):
    if not REAL.exists():
        print(f"{REAL}: shared real data not found", file=sys.stderr)
        return 1
    rows = reads_rows() + gatk_rows() + [na12878_row()]
    loo = loo_accuracy()
    out = Path(__file__).parent / "results" / "ancestry_real.json"
    out.write_text(json.dumps({"rows": rows, "leave_one_out": loo}, indent=1))
    print(f"{'sample':28} {'source':12} {'panel':18} {'markers':>7}  placed")
    for r in rows:
        placed = f"{r['superpopulation']} (nearest {r['nearest']})" if r["used"] else r["note"]
        print(f"{r['sample']:28} {r['source']:12} {r['panel']:18} {r['markers_with_reads']:7d}  {placed}")
    print("1000 Genomes leave-one-out 10-NN vote: " + ", ".join(f"{k} {v:.3f}" for k, v in loo.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
