"""Build the package's built-in site panels from the VerifyBamID2 1000 Genomes resource.

    python scripts/make_builtin_panels.py RESOURCE_DIR integrated_call_samples_v3.20130502.ALL.panel

writes ``src/microchimera/io/panels/1000g-{10k,100k}-GRCh{37,38}.npz``: per marker its contig,
0-based position, REF/ALT, ID, mean alt dosage (``.mu``) and SVD loadings (``.UD``), and per
1000 Genomes sample its name, population, super-population and coordinates (``.V``).  The
resource's own ``1000g.pop`` labels only the 1092 phase 1 samples (no South Asians), so the
labels come from the 1000 Genomes phase 3 sample panel (``integrated_call_samples_v3.20130502.ALL.panel``,
2504 samples, 26 populations in 5 super-populations); the two agree on every sample they share.  Markers on
contigs other than 1-22 (the b38 panels place a few on ``chr8_KI270821v1_alt``) and the few
multi-allelic ones (ALT ``A,G``) are left out.
The md5 of each source file is stored with the arrays, so a panel names what it was made from.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "microchimera" / "io" / "panels"
PANELS = {"1000g-10k-GRCh37": ("10k", "b37"), "1000g-10k-GRCh38": ("10k", "b38"),
          "1000g-100k-GRCh37": ("100k", "b37"), "1000g-100k-GRCh38": ("100k", "b38")}
PRIMARY = re.compile(r"^(chr)?([1-9]|1[0-9]|2[0-2])$")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def build(resource: Path, labels: Path, size: str, build_tag: str) -> dict:
    stem = resource / f"1000g.phase3.{size}.{build_tag}.vcf.gz.dat"
    files = {ext: Path(f"{stem}.{ext}") for ext in ("bed", "mu", "UD", "V")}
    files["pop"] = labels
    bed = [line.split("\t") for line in files["bed"].read_text().splitlines()]
    mu = [line.split("\t") for line in files["mu"].read_text().splitlines()]
    ud = np.loadtxt(files["UD"], dtype=np.float64, ndmin=2)
    if not (len(bed) == len(mu) == len(ud)):
        raise SystemExit(f"{stem}: .bed, .mu and .UD differ in length")
    primary = np.array([bool(PRIMARY.match(b[0])) for b in bed])
    snp = np.array([b[3] in "ACGT" and b[4].strip() in "ACGT" for b in bed])  # a few are multi-allelic
    keep = primary & snp
    for b, m in zip(bed, mu, strict=True):  # the .mu ID spells the .bed record: chrom:pos1_REF/ALT_rsID
        if not m[0].startswith(f"{b[0]}:{int(b[1]) + 1}_{b[3]}/{b[4].strip()}"):
            raise SystemExit(f"{stem}: .mu record {m[0]} does not match .bed {b}")
    contigs = list(dict.fromkeys(b[0] for b, k in zip(bed, keep, strict=True) if k))
    cid = np.array([contigs.index(b[0]) for b, k in zip(bed, keep, strict=True) if k], dtype=np.int8)
    pos = np.array([int(b[1]) for b, k in zip(bed, keep, strict=True) if k], dtype=np.int64)
    ref = np.array(["ACGT".index(b[3]) for b, k in zip(bed, keep, strict=True) if k], dtype=np.uint8)
    alt = np.array(["ACGT".index(b[4].strip()) for b, k in zip(bed, keep, strict=True) if k], dtype=np.uint8)
    ids = np.array([(m[0].split("_")[-1] if "_rs" in m[0] else ".") for m, k in zip(mu, keep, strict=True) if k])
    dosage = np.array([float(m[1]) for m, k in zip(mu, keep, strict=True) if k], dtype=np.float32)
    vrows = [line.split("\t") for line in files["V"].read_text().splitlines()]
    rows = [line.split("\t") for line in files["pop"].read_text().splitlines()[1:] if line.strip()]
    pop = {r[0]: (r[1], r[2]) for r in rows}
    samples = np.array([r[0] for r in vrows])
    coords = np.array([[float(x) for x in r[1:]] for r in vrows], dtype=np.float64)
    # The b38 markers keep their b37 order after lift-over: sort by (contig, position).
    order = np.lexsort((pos, cid))
    cid, pos, ref, alt, ids, dosage = cid[order], pos[order], ref[order], alt[order], ids[order], dosage[order]
    loadings = ud[keep][order]
    meta = {"source": "VerifyBamID2 resource/ (Griffan/VerifyBamID, commit 1f6e1f35d0164f0b1d8fea322cbf0fdf4786b5f8), "
                      "1000 Genomes phase 3 markers and the SVD of its 2504 samples' genotypes; population "
                      "labels from the 1000 Genomes phase 3 sample panel",
            "licence": "MIT", "files": {p.name: md5(p) for p in files.values()},
            "dropped": {"non_primary_contig": int((~primary).sum()), "multiallelic": int((primary & ~snp).sum())}}
    return dict(contigs=np.array(contigs), contig_id=cid, pos=pos, ref=ref, alt=alt, id=ids, mu=dosage,
                loadings=loadings.astype(np.float32), samples=samples,
                populations=np.array([pop[s][0] for s in samples]),
                superpopulations=np.array([pop[s][1] for s in samples]), coordinates=coords,
                meta=np.array(json.dumps(meta, sort_keys=True)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("resource", type=Path, help="directory with the VerifyBamID2 1000g.phase3.* files")
    ap.add_argument("labels", type=Path, help="1000 Genomes phase 3 sample panel (sample, pop, super_pop, gender)")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (size, tag) in PANELS.items():
        arrays = build(args.resource, args.labels, size, tag)
        np.savez_compressed(OUT / f"{name}.npz", **arrays)
        print(name, len(arrays["pos"]), "markers", (OUT / f"{name}.npz").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
