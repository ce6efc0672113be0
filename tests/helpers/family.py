"""The tiny family the suite's simulations share: its people, and scenarios built around them.

Every read-level test scenario of a family calls on :data:`PEOPLE` by id, so the family is
written once; :data:`TINY_FAMILY` is the smallest useful one, simulated once per session by
``tiny_family_fixture`` (``tests/conftest.py``).
"""
from __future__ import annotations

#: Everyone a test scenario may call on, by id (``family.people`` entries of a scenario).
PEOPLE = {
    "father": {"id": "father", "sex": "male"},
    "mother": {"id": "mother", "sex": "female"},
    "son": {"id": "son", "sex": "male", "father": "father", "mother": "mother"},
    "daughter": {"id": "daughter", "sex": "female", "father": "father", "mother": "mother"},
    "aunt": {"id": "aunt", "sex": "female"},
    "neighbour": {"id": "neighbour", "sex": "female"},
}
#: The family proper: both parents and two children.
FAMILY = ("father", "mother", "son", "daughter")


def family_scenario(name: str, samples, *, people=FAMILY, **sections) -> dict:
    """A scenario (as :func:`microchimera.sim.load_scenario` takes it) of ``people`` (ids of
    :data:`PEOPLE`, in this order) and ``samples``; ``sections`` (``genome``, ``panel``,
    ``sequencing``, ...) are passed through."""
    return {"name": name, **sections, "family": {"people": [dict(PEOPLE[p]) for p in people]},
            "samples": [dict(s) for s in samples]}


#: Donors of :data:`TINY_FAMILY`'s one sample (the mother's tissue).
TINY_DONORS = {"son": 0.2, "daughter": 0.05}
#: The suite's tiny family: 400 panel sites, depth 30, and awkward reads (sequencing errors,
#: duplicates, indels, soft clips, overlapping mates) for the counting kernel.  Sites are
#: ~300 bp apart: a shorter genome leaves the chrY channel no autosomal windows to measure.
TINY_FAMILY = family_scenario(
    "tiny_family", [{"name": "mother_mix", "host": "mother", "donors": TINY_DONORS}],
    panel={"n_sites": 400, "spacing": 300},
    sequencing={"depth": 30, "read_length": 100, "fragment_mean": 150, "fragment_sd": 50,
                "error_rate": 0.02, "duplicate_rate": 0.1, "indel_rate": 0.2, "soft_clip_rate": 0.2})
