"""Rules merge_*: join the shard outputs of a per-image stage into its one HDF5 cache and/or PNG folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.io.shards import merge_folders, merge_h5
from wsss.runtime import job_logger, provenance_record

log = job_logger(snakemake.log[0], snakemake.rule)
if "h5" in snakemake.output.keys():
    images = merge_h5(list(snakemake.input.h5), snakemake.output.h5)
    log.info("merged %d shard caches into %s: %d images", len(snakemake.input.h5), snakemake.output.h5, images)
if "folder" in snakemake.output.keys():
    files = merge_folders(list(snakemake.input.folders), snakemake.output.folder,
                          provenance_record({"shards": len(snakemake.input.folders)}, snakemake.input.folders))
    log.info("merged %d shard folders into %s: %d files", len(snakemake.input.folders), snakemake.output.folder, files)
