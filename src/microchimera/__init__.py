"""microchimera: detect and quantify microchimerism from sequencing data.

The public API is re-exported here as modules land; see ``docs/`` for the model and formats.
"""
__version__ = "0.1.0"
