# Sharding (config `shards` > 1): each per-image stage runs as one job per shard of a split (the same
# rule and script, on a contiguous slice of the images, or of make_cams's batches, into
# <output>.shards/<k>), and a merge rule joins the shards into the very output the unsharded rule
# writes, so nothing downstream changes.

if config["shards"] > 1:

    SHARD_IDS = list(range(config["shards"]))
    MERGE_CODE = code("io/shards.py", "io/h5cache.py", "io/folders.py")  # what every merge rule runs

    wildcard_constraints:
        shard="[0-9]+",

    use rule make_cams as make_cams_shard with:
        output:
            cams=temp(results("{dataset}/{experiment}/seed{seed}/cams/{split}.shards/{shard}.h5")),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/make_cams_{split}_shard{shard}.log"),
        benchmark:
            results("{dataset}/{experiment}/seed{seed}/benchmarks/make_cams_{split}_shard{shard}.tsv")

    use rule make_affinity_labels as make_affinity_labels_shard with:
        output:
            labels=temp(directory(results("{dataset}/{experiment}/seed{seed}/affinity_labels/{split}.shards/{shard}"))),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/make_affinity_labels_{split}_shard{shard}.log"),
        benchmark:
            results("{dataset}/{experiment}/seed{seed}/benchmarks/make_affinity_labels_{split}_shard{shard}.tsv")

    use rule random_walk as random_walk_shard with:
        output:
            masks=temp(directory(results("{dataset}/{experiment}/seed{seed}/pseudo_masks/{split}.shards/{shard}"))),
            scores=temp(results("{dataset}/{experiment}/seed{seed}/random_walk/{split}.shards/{shard}.h5")),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/random_walk_{split}_shard{shard}.log"),
        benchmark:
            results("{dataset}/{experiment}/seed{seed}/benchmarks/random_walk_{split}_shard{shard}.tsv")

    use rule make_cam_masks as make_cam_masks_shard with:
        output:
            masks=temp(directory(results("{dataset}/{experiment}/seed{seed}/cam_masks/{split}.shards/{shard}"))),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/make_cam_masks_{split}_shard{shard}.log"),
        benchmark:
            results("{dataset}/{experiment}/seed{seed}/benchmarks/make_cam_masks_{split}_shard{shard}.tsv")

    use rule segment_images as segment_images_shard with:
        output:
            masks=temp(
                directory(
                    results("{dataset}/{experiment}/seed{seed}/segmentation/{supervision}/{split}.shards/{shard}")
                )
            ),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/segment_images_{supervision}_{split}_shard{shard}.log"),
        benchmark:
            results(
                "{dataset}/{experiment}/seed{seed}/benchmarks/segment_images_{supervision}_{split}_shard{shard}.tsv"
            )

    rule merge_cams:
        input:
            h5=expand(
                results("{{dataset}}/{{experiment}}/seed{{seed}}/cams/{{split}}.shards/{shard}.h5"), shard=SHARD_IDS
            ),
            code=MERGE_CODE,
        output:
            h5=results("{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/merge_cams_{split}.log"),
        conda:
            "../envs/wsss.yaml"
        script:
            "../workflow_scripts/merge_shards.py"

    rule merge_affinity_labels:
        input:
            folders=expand(
                results("{{dataset}}/{{experiment}}/seed{{seed}}/affinity_labels/{{split}}.shards/{shard}"),
                shard=SHARD_IDS,
            ),
            code=MERGE_CODE,
        output:
            folder=directory(results("{dataset}/{experiment}/seed{seed}/affinity_labels/{split}")),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/merge_affinity_labels_{split}.log"),
        conda:
            "../envs/wsss.yaml"
        script:
            "../workflow_scripts/merge_shards.py"

    rule merge_random_walk:
        input:
            folders=expand(
                results("{{dataset}}/{{experiment}}/seed{{seed}}/pseudo_masks/{{split}}.shards/{shard}"),
                shard=SHARD_IDS,
            ),
            h5=expand(
                results("{{dataset}}/{{experiment}}/seed{{seed}}/random_walk/{{split}}.shards/{shard}.h5"),
                shard=SHARD_IDS,
            ),
            code=MERGE_CODE,
        output:
            folder=directory(results("{dataset}/{experiment}/seed{seed}/pseudo_masks/{split}")),
            h5=results("{dataset}/{experiment}/seed{seed}/random_walk/{split}.h5"),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/merge_random_walk_{split}.log"),
        conda:
            "../envs/wsss.yaml"
        script:
            "../workflow_scripts/merge_shards.py"

    rule merge_cam_masks:
        input:
            folders=expand(
                results("{{dataset}}/{{experiment}}/seed{{seed}}/cam_masks/{{split}}.shards/{shard}"), shard=SHARD_IDS
            ),
            code=MERGE_CODE,
        output:
            folder=directory(results("{dataset}/{experiment}/seed{seed}/cam_masks/{split}")),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/merge_cam_masks_{split}.log"),
        conda:
            "../envs/wsss.yaml"
        script:
            "../workflow_scripts/merge_shards.py"

    rule merge_segmentation:
        input:
            folders=expand(
                results(
                    "{{dataset}}/{{experiment}}/seed{{seed}}/segmentation/{{supervision}}/{{split}}.shards/{shard}"
                ),
                shard=SHARD_IDS,
            ),
            code=MERGE_CODE,
        output:
            folder=directory(results("{dataset}/{experiment}/seed{seed}/segmentation/{supervision}/{split}")),
        log:
            results("{dataset}/{experiment}/seed{seed}/logs/merge_segmentation_{supervision}_{split}.log"),
        conda:
            "../envs/wsss.yaml"
        script:
            "../workflow_scripts/merge_shards.py"

    ruleorder: merge_cams > make_cams
    ruleorder: merge_affinity_labels > make_affinity_labels
    ruleorder: merge_random_walk > random_walk
    ruleorder: merge_cam_masks > make_cam_masks
    ruleorder: merge_segmentation > segment_images
