"""Rule prepare_voc_sbd: SegmentationClassAug/ and ImageSets/Segmentation/train_aug.txt in the VOC folder, from SBD."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.sbd import prepare_voc_sbd
from wsss.runtime import job_logger, provenance_record

log = job_logger(snakemake.log[0], "prepare_voc_sbd")
roots = {"voc_root": snakemake.params.voc_root, "sbd_root": snakemake.params.sbd_root}
stats = prepare_voc_sbd(**roots, mask_dir=snakemake.output.masks, list_path=snakemake.output.train_aug,
                        threads=snakemake.threads, provenance=provenance_record(roots, snakemake.input))
log.info("wrote %s (%d masks: %d from VOC, %d from SBD; %d resumed) and %s (%d ids)", snakemake.output.masks,
         stats["masks"], stats["from_voc"], stats["from_sbd"], stats["resumed"], snakemake.output.train_aug,
         stats["train_aug"])
