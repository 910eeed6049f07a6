# Figures for the Snakemake report (per-class IoU bars, overlays of a few images) and the `report` target.
# `snakemake` (rule all) draws them; `snakemake --report report.html` then builds the HTML report. Name
# `localization` or `tables` in both commands to add those tables.

#: How many images of the training split the overlay grid of each experiment shows (the first labelled ones).
REPORT_OVERLAY_IMAGES = config["report"]["overlay_images"]


rule plot_per_class_iou:
    input:
        cams=owned("cam_eval", f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/cams_{TRAIN_SPLIT}.tsv"),
        pseudo_masks=owned(
            "pseudo_masks", f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/pseudo_masks_{TRAIN_SPLIT}.tsv"
        ),
        segmentation=owned(
            "segmenter", f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/segmentation_pseudo_{VAL_SPLIT}.tsv"
        ),
        upper_bound=upper_bound_scores,
        code=code("figures.py"),
    output:
        figure=report(
            results("{dataset}/{experiment}/seed{seed}/figures/per_class_iou.png"),
            caption="../report/per_class_iou.rst",
            category="Figures",
            subcategory="Per-class IoU",
            labels={"experiment": "{experiment}", "seed": "{seed}", "figure": "per-class IoU"},
        ),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/plot_per_class_iou.log"),
    params:
        root=data_root(),  # the dataset's class names (wsss.data.classes.dataset_class_names)
        train_split=TRAIN_SPLIT,
        val_split=VAL_SPLIT,
        dpi=100,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/plot_per_class_iou.py"


rule make_overlays:
    input:
        cams=owned("cams", "{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
        affinity_labels=owned("affinity_labels", "{dataset}/{experiment}/seed{seed}/affinity_labels/{split}"),
        pseudo_masks=pseudo_mask_input,
        labels=results("{dataset}/labels.tsv"),
        code=code("figures.py"),
        masks=needs_masks("make_overlays (affinity labels and pseudo masks)"),
    output:
        figure=report(
            results("{dataset}/{experiment}/seed{seed}/figures/overlays_{split}.png"),
            caption="../report/overlays.rst",
            category="Figures",
            subcategory="Overlays",
            labels={"experiment": "{experiment}", "seed": "{seed}", "figure": "overlays ({split})"},
        ),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/make_overlays_{split}.log"),
    params:
        root=data_root(),
        n_images=REPORT_OVERLAY_IMAGES,
        alpha=0.5,
        dpi=100,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_overlays.py"


#: What the report shows for the run experiments: their figures and summaries at every seed, and the
#: comparison (for wsolevaluation data, which has no class masks, the localization table).
REPORT_INPUTS = (
    [results(f"{DATASET}/localization.tsv")]
    if IS_WSOL
    else expand(
        results("{dataset}/{experiment}/seed{seed}/figures/per_class_iou.png"),
        dataset=DATASET,
        experiment=RUN_EXPERIMENTS,
        seed=SEEDS,
    )
    + expand(
        results("{dataset}/{experiment}/seed{seed}/figures/overlays_{split}.png"),
        dataset=DATASET,
        experiment=RUN_EXPERIMENTS,
        seed=SEEDS,
        split=TRAIN_SPLIT,
    )
    + expand(
        results("{dataset}/{experiment}/seed{seed}/summary.tsv"),
        dataset=DATASET,
        experiment=RUN_EXPERIMENTS,
        seed=SEEDS,
    )
    + [results(f"{DATASET}/experiments.tsv")]
)


rule report:
    """Target: every figure and table of the Snakemake report for the run experiments; then
    `snakemake report --report report.html` (add `localization` to both commands for its table)."""
    default_target: False
    input:
        REPORT_INPUTS,
