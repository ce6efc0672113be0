"""Old name of :mod:`helpers.report`, kept only while tests/test_flatteners.py imports it from
here; write ``from helpers.report import ...`` instead."""
from helpers.report import simulated_result, ychrom_document

__all__ = ["simulated_result", "ychrom_document"]
