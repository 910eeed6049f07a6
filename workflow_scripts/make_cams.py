"""Rule make_cams: multi-scale + flip CAMs of the labelled classes into one HDF5 cache per split."""

from wsss.data.labels import load_split
from wsss.io.checkpoint import file_sha256
from wsss.stages.make_cams import write_cam_cache
from wsss.models.loading import load_classifier
from wsss.runtime import job_logger, provenance, resolve_device, set_threads

log = job_logger(snakemake.log[0], "make_cams")
set_threads(snakemake.threads)
cfg = snakemake.params.cams
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback)
rows = load_split(snakemake.input.labels, snakemake.wildcards.split, labelled_only=True, log=log)
model = load_classifier(snakemake.input.model, device)
attrs = {"split": snakemake.wildcards.split, "checkpoint_sha256": file_sha256(snakemake.input.model),
         **provenance(cfg)}
stats = write_cam_cache(model, snakemake.params.root, rows, snakemake.output.cams, attrs=attrs,
                        scales=cfg["scales"], flip=cfg["flip"], batch_size=cfg["batch_size"], device=device,
                        attention=cfg["attention"])
log.info("wrote %s: %s", snakemake.output.cams, stats)
for image_id, classes in stats.pop("empty_maps", {}).items():
    log.warning("image %s: all-zero CAM for labelled classes %s", image_id, classes)
