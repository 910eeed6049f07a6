"""Rule random_walk: CAMs propagated on AffinityNet affinities -> pseudo masks + refined scores."""

from wsss.data.labels import load_split
from wsss.io.checkpoint import file_sha256
from wsss.models.loading import load_affinitynet
from wsss.runtime import job_logger, provenance, resolve_device, set_threads
from wsss.stages.random_walk import write_random_walk

log = job_logger(snakemake.log[0], "random_walk")
set_threads(snakemake.threads)
cfg = snakemake.params.random_walk
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback)
rows = load_split(snakemake.input.labels, snakemake.wildcards.split, labelled_only=True, log=log)
model = load_affinitynet(snakemake.input.model, device)
attrs = {"split": snakemake.wildcards.split, "checkpoint_sha256": file_sha256(snakemake.input.model),
         "cams_sha256": file_sha256(snakemake.input.cams),
         **provenance({**cfg, "radius": snakemake.params.radius})}
stats = write_random_walk(model, snakemake.input.cams, snakemake.params.root, rows, snakemake.output.masks,
                          snakemake.output.scores, attrs=attrs, alpha_bg=cfg["alpha_bg"],
                          radius=snakemake.params.radius, beta=cfg["beta"], logt=cfg["logt"],
                          crf=dict(snakemake.params.crf) if cfg["crf"] else None, device=device)
log.info("wrote %s: %s", snakemake.output.masks, stats)
