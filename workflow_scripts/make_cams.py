"""Rule make_cams: multi-scale + flip CAMs of the labelled classes into one HDF5 cache per split."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import labelled_rows, load_split
from wsss.io.shards import job_shard
from wsss.stages.make_cams import write_cam_cache
from wsss.models.loading import load_classifier
from wsss.runtime import as_attributes, job_logger, log_peak_gpu_memory, provenance_record, resolve_device, set_threads

log = job_logger(snakemake.log[0], "make_cams")
cfg = snakemake.params.cams
set_threads(snakemake.threads, workers=cfg["num_workers"])  # the decoding workers count in the rule's threads
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback, log)
split_rows = load_split(snakemake.input.labels, snakemake.wildcards.split)
rows = labelled_rows(split_rows, log)
model = load_classifier(snakemake.input.model, device)
record = provenance_record(cfg, snakemake.input)
attrs = {"split": snakemake.wildcards.split, "checkpoint_sha256": record["inputs_sha256"][snakemake.input.model],
         **as_attributes(record)}
stats = write_cam_cache(model, snakemake.params.root, rows, snakemake.output.cams, attrs=attrs,
                        scales=cfg["scales"], flip=cfg["flip"], batch_size=cfg["batch_size"], device=device,
                        attention=cfg["attention"], resize=cfg["resize"], keep_raw=cfg["keep_raw"],
                        num_workers=cfg["num_workers"],
                        shard=job_shard(snakemake.wildcards, snakemake.params.shards))  # a shard job's batches
for image_id, classes in stats.pop("empty_maps", {}).items():
    log.warning("image %s: all-zero CAM for labelled classes %s", image_id, classes)
stats["n_skipped_unlabelled"] = len(split_rows) - len(rows)
log.info("wrote %s: %s", snakemake.output.cams, stats)
log_peak_gpu_memory(log)  # read by benchmarks/gpu_check.sh
