"""Stage drivers, one module per Snakemake rule (same name): loop over a split, call the pure
functions of the library, write the stage's files. Workflow scripts only unpack `snakemake` and call these."""
