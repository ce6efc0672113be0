"""One pedigree model of a sample: the genotype prior of its members and the likelihood data
over the sites it can use."""
from __future__ import annotations

import numpy as np

from .likelihood import ModelData
from .prior import genotype_prior


class SiteModel:
    """Genotype prior of ``members`` (host first, then donors) and, once built, its
    :class:`ModelData`.

    ``mask`` (bool, shape ``(n_all_sites,)``) is narrowed to the sites where the prior is
    valid (e.g. no Mendel contradiction); ``typed`` maps typed people to int8 dosages;
    ``founder_af`` gives some untyped founders their own AF and ``theta`` is the family
    population's drift from ``af`` (see :func:`genotype_prior`).
    """

    def __init__(self, ped, typed, members, af, mask, founder_af=None, theta: float = 0.0):
        self.members = list(members)
        self.theta = theta
        self.prior = genotype_prior(ped, typed, members, af, founder_af=founder_af, theta=theta)
        self.typed_dosage = {i: typed[m] for i, m in enumerate(members) if m in typed}
        self.mask = mask & self.prior.valid
        self.data = None

    def build(self, n, x, site_class, error_rate, block) -> ModelData:
        """The likelihood data at the model's sites (``n``/``x``: ref+alt and alt fragments)."""
        self.data = ModelData.build(self.members[1:], self.prior.weights, self.prior.config_genotypes,
                                    self.typed_dosage, n, x, site_class, error_rate, block, self.mask)
        return self.data

    def certain_background(self, ignore=()) -> tuple[np.ndarray, np.ndarray]:
        """bool (n_all_sites,) pair: sites where every member is certainly hom-ref / hom-alt.

        Members whose index is in ``ignore`` do not count (the unknown unrelated contributor:
        its genotype is never certain, and at a small fraction it moves a site's alt share
        far less than the other members' genotypes do; the fitted error multiplier absorbs
        the rest).
        """
        keep = [m for m in range(len(self.members)) if m not in set(ignore)]
        cfg = self.prior.config_genotypes[keep]
        _, first, group = np.unique(cfg, axis=1, return_index=True, return_inverse=True)
        group = np.asarray(group).reshape(-1)
        w = self.prior.weights @ np.eye(len(first))[group]  # (n_sites, n_groups): marginal weights
        best = w.argmax(axis=1)
        certain = w[np.arange(len(w)), best] >= 0.999
        g = np.empty((len(keep), len(w)), dtype=np.int64)
        for i, m in enumerate(keep):
            g[i] = self.typed_dosage[m] if m in self.typed_dosage else self.prior.config_genotypes[m, first[best]]
        ok = certain & self.mask
        return ok & (g == 0).all(axis=0), ok & (g == 2).all(axis=0)
