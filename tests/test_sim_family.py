"""Genetics of the simulator: Mendel, Hardy–Weinberg, recombination, sex chromosomes."""
import numpy as np
import pytest
from scipy import stats

from microchimera.io.pedigree import Pedigree
from microchimera.io.sites import SiteTable
from microchimera.sim import simulate_family
from microchimera.sim.family import KIND_X, KIND_Y


def _sites(n_auto=4000, n_x=500, n_y=100, seed=0):
    rng = np.random.default_rng(seed)
    recs = [("chr1", 100 * i, "A", "G", float(rng.uniform(0.05, 0.95))) for i in range(n_auto // 2)]
    recs += [("chr2", 100 * i, "C", "T", float(rng.uniform(0.05, 0.95))) for i in range(n_auto // 2)]
    recs += [("chrX", 100 * i, "G", "A", float(rng.uniform(0.05, 0.95))) for i in range(n_x)]
    recs += [("chrY", 100 * i, "T", "C", float(rng.uniform(0.05, 0.95))) for i in range(n_y)]
    return SiteTable.from_records(recs)


def _family_pedigree():
    return Pedigree.from_records([
        ("f", "dad", None, None, 1), ("f", "mom", None, None, 2),
        ("f", "son", "dad", "mom", 1), ("f", "dau", "dad", "mom", 2), ("f", "son2", "dad", "mom", 1),
        ("f", "grandchild", "son", None, 2)])


def test_simulate_family__mendelian_every_site():
    sites = _sites()
    fam = simulate_family(_family_pedigree(), sites, np.random.default_rng(1))
    h = fam.haplotypes
    ped = fam.pedigree
    auto = fam.site_kind == 0
    assert auto.sum() == 4000
    for child in ("son", "dau", "son2"):
        c, f, m = ped.index(child), ped.index("dad"), ped.index("mom")
        # paternal copy is one of the father's alleles, maternal copy one of the mother's
        assert np.all((h[c, 0, auto] == h[f, 0, auto]) | (h[c, 0, auto] == h[f, 1, auto]))
        assert np.all((h[c, 1] == h[m, 0]) | (h[c, 1] == h[m, 1]) | (h[c, 1] == -1))
        g, gf, gm = fam.genotypes[c, auto], fam.genotypes[f, auto], fam.genotypes[m, auto]
        # dosage check without haplotypes: child = (0|1 from each parent)
        lo = (gf == 2).astype(int) + (gm == 2).astype(int)
        hi = (gf >= 1).astype(int) + (gm >= 1).astype(int)
        assert np.all((g >= lo) & (g <= hi))


def test_simulate_family__sex_chromosomes():
    sites = _sites()
    fam = simulate_family(_family_pedigree(), sites, np.random.default_rng(2))
    ped, h, g = fam.pedigree, fam.haplotypes, fam.genotypes
    x, y = fam.site_kind == KIND_X, fam.site_kind == KIND_Y
    assert (x.sum(), y.sum()) == (500, 100)
    dad, mom, son, dau = (ped.index(p) for p in ("dad", "mom", "son", "dau"))
    assert np.all(h[son, 0, x] == -1) and np.all(h[son, 1, x] >= 0)          # one X
    assert np.array_equal(h[son, 0, y], h[dad, 0, y])                         # father's Y
    assert np.array_equal(h[dau, 0, x], h[dad, 1, x])                         # father's only X
    assert np.all(g[dau, y] == -1) and np.all(g[mom, y] == -1)                # no Y in females
    assert set(np.unique(g[son, x])) <= {0, 2}                                # hemizygous
    assert np.all(fam.copy_number[son, x] == 1) and np.all(fam.copy_number[dau, x] == 2)


def test_simulate_family__founders_hardy_weinberg():
    sites = _sites(n_auto=20000, n_x=0, n_y=0)
    ped = Pedigree.from_records([("f", f"p{i}", None, None, 2) for i in range(200)])
    fam = simulate_family(ped, sites, np.random.default_rng(3))
    g = fam.genotypes
    # pool sites in AF bins; compare genotype counts with HWE expectations by chi-square
    bins = np.digitize(sites.af, np.linspace(0.05, 0.95, 10))
    pvals = []
    for b in np.unique(bins):
        sel = bins == b
        p = sites.af[sel]
        obs = np.array([(g[:, sel] == k).sum() for k in range(3)])
        exp = g.shape[0] * np.array([((1 - p) ** 2).sum(), (2 * p * (1 - p)).sum(), (p ** 2).sum()])
        pvals.append(stats.chisquare(obs, exp).pvalue)
    # bins are independent; with ~9 tests Bonferroni at 0.001 would almost never fail by chance
    assert min(pvals) > 0.001 / len(pvals)
    # and the observed alt frequency follows AF
    assert np.corrcoef(g.mean(axis=0) / 2, sites.af)[0, 1] > 0.9


def test_simulate_family__siblings_share_segments():
    """Full siblings: IBD sharing per chromosome is between none and all, in runs (segments)."""
    sites = _sites(n_auto=20000, n_x=0, n_y=0)
    ped = _family_pedigree()
    fam = simulate_family(ped, sites, np.random.default_rng(4), morgans=1.5)
    h = fam.haplotypes
    dad, son, son2 = ped.index("dad"), ped.index("son"), ped.index("son2")
    # which paternal haplotype each son got (identifiable where dad is heterozygous)
    het = h[dad, 0] != h[dad, 1]
    src1 = h[son, 0, het] == h[dad, 0, het]
    src2 = h[son2, 0, het] == h[dad, 0, het]
    same = src1 == src2
    share = same.mean()
    assert 0.15 < share < 0.85            # neither all nor nothing over the genome
    switches = np.count_nonzero(np.diff(same.astype(int)))
    assert 1 <= switches < 40             # in segments, not site-by-site noise
    assert len(fam.crossovers) > 0


def test_simulate_family__same_seed_same_genomes_different_seed_differs():
    sites = _sites()
    a = simulate_family(_family_pedigree(), sites, np.random.default_rng(7))
    b = simulate_family(_family_pedigree(), sites, np.random.default_rng(7))
    c = simulate_family(_family_pedigree(), sites, np.random.default_rng(8))
    assert np.array_equal(a.haplotypes, b.haplotypes)
    assert not np.array_equal(a.haplotypes, c.haplotypes)


def test_simulate_family__missing_af_raises():
    sites = SiteTable.from_records([("chr1", 10, "A", "G", None)])
    with pytest.raises(ValueError, match="allele frequency"):
        simulate_family(_family_pedigree(), sites, np.random.default_rng(0))
