"""Helpers shared by the test modules (not tests themselves).

``tests/`` is on ``sys.path`` because ``tests/conftest.py`` is a rootdir conftest without an
``__init__.py`` beside it (pytest's default "prepend" import mode), so test modules import
these as ``from helpers.bam import sam_to_bam``.  Fixtures built from them live in
``tests/conftest.py``.

* :mod:`helpers.bam`: SAM text or an unsorted file -> coordinate-sorted, indexed BAM.
* :mod:`helpers.family`: the tiny family (people and scenario) the simulations share.
* :mod:`helpers.cohort`: simulated cohorts, a real Dask cluster, the cohort engine's test gate
  and waiting for an event (not racing the clock).
* :mod:`helpers.report`: a simulated result document and a chrY document.
* :mod:`helpers.reference`: the slow read-by-read allele counter the kernel is checked against.
* :mod:`helpers.mappy_align`: minimap2 (mappy) alignment of simulated FASTQ.
"""
