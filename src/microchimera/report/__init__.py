"""What a person sees: the self-contained HTML report, MultiQC custom content.

- :func:`render_report` / :func:`write_report`: HTML from ``result.json`` documents only;
- :func:`write_multiqc`: a ``*_mqc.json`` custom-content file per sample for MultiQC.
"""
from .html import render_report, write_report
from .multiqc import write_multiqc

__all__ = ["render_report", "write_multiqc", "write_report"]
