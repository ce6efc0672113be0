"""Many samples on a Dask cluster (``microchimera cohort``): resumable, failures recorded.

Public API:

- :func:`read_manifest` -> :class:`Manifest` of :class:`SampleSpec` (all row errors at once)
- :func:`run_cohort` -> :class:`CohortResult` (per-sample outputs, cohort table, summary)
- :func:`open_client` (LocalCluster by default, or attach to ``tcp://host:port``)
- :class:`SampleOptions`, :func:`plan_regions`, :func:`merge_counts` (region splitting)

Usage, outputs and cluster set-up: ``docs/cohort.md``.
"""
from .engine import CohortResult, SampleOutcome, default_n_workers, open_client, run_cohort
from .manifest import COLUMNS, Manifest, SampleSpec, read_manifest
from .sample import SampleOptions, is_complete, merge_counts, plan_regions, sample_dir
from .table import SCHEMA as TABLE_SCHEMA
from .table import write_cohort_table

__all__ = ["COLUMNS", "CohortResult", "Manifest", "SampleOptions", "SampleOutcome", "SampleSpec",
           "TABLE_SCHEMA", "default_n_workers", "is_complete", "merge_counts", "open_client",
           "plan_regions", "read_manifest", "run_cohort", "sample_dir", "write_cohort_table"]
