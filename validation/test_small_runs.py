"""The CI-sized versions of the validation scripts, collected here.

pytest collects only ``test_*.py`` files, so the ``test_*_small`` functions inside
``recover_fraction.py``, ``contamination.py``, ``ancestry.py``, ``molecules.py``, ``pon.py``,
``pon_lod_decomposition.py`` and ``umi_detection.py`` ran only when
those files were named on the command line; importing them here puts them in every
``python -m pytest`` run (the full versions stay behind ``-m slow``).
"""
from __future__ import annotations

from ancestry import test_ancestry_small  # noqa: F401
from contamination import test_contamination_calibration_full, test_contamination_calibration_small  # noqa: F401
from molecules import test_molecules_small  # noqa: F401
from pon import test_pon_validation_small  # noqa: F401
from pon_lod_decomposition import test_pon_lod_decomposition_small  # noqa: F401
from recover_fraction import test_quantify_calibration_full, test_quantify_calibration_small  # noqa: F401
from umi_detection import test_umi_detection_small  # noqa: F401
