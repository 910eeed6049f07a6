"""wsss: weakly supervised semantic segmentation, from image-level labels to pixel masks.

All real logic of the pipeline lives here; the Snakemake rules only call into it.
"""

__version__ = "0.1.0"
