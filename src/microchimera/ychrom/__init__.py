"""Male DNA in a female host from male-specific chrY reads (``microchimera ychrom``).

Public API: :func:`analyse_ychrom` (BAMs -> :class:`YchromResult`), :func:`write_ychrom_json`,
:func:`estimate_male_fraction` on :class:`YCounts`, :func:`compare_y_and_snp`, :func:`add_y_estimate`
(the chrY block of ``run``'s result), and the region
helpers :func:`packaged_y_regions` / :func:`read_region_bed`.  Method: ``docs/ychrom.md``.
"""
from .analysis import (
    SCHEMA,
    SampleResult,
    YchromResult,
    analyse_ychrom,
    count_sample,
    load_y_regions,
    result_to_dict,
    write_ychrom_json,
)
from .compare import compare_y_and_snp
from .inrun import add_y_estimate
from .regions import BUILDS, RegionSet, packaged_y_regions, read_region_bed
from .stats import (
    DEFAULT_BACKGROUND_MALE_FRACTION,
    Background,
    YCounts,
    YEstimate,
    background_from_controls,
    default_background,
    estimate_male_fraction,
)

__all__ = [
    "BUILDS",
    "DEFAULT_BACKGROUND_MALE_FRACTION",
    "SCHEMA",
    "Background",
    "RegionSet",
    "SampleResult",
    "YCounts",
    "YEstimate",
    "YchromResult",
    "add_y_estimate",
    "analyse_ychrom",
    "background_from_controls",
    "compare_y_and_snp",
    "count_sample",
    "default_background",
    "estimate_male_fraction",
    "load_y_regions",
    "packaged_y_regions",
    "read_region_bed",
    "result_to_dict",
    "write_ychrom_json",
]
