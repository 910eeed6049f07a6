"""Shards of a split are disjoint slices that cover it, and their outputs merge into the unsharded result."""

import numpy as np
import pandas as pd
import pytest

from wsss.errors import CacheError
from wsss.io.h5cache import CamCache, CamCacheWriter
from wsss.io.png import read_label_png, write_label_png
from wsss.io.shards import merge_folders, merge_h5, shard_rows


@pytest.mark.parametrize("n, shards", [(10, 3), (2, 4), (10582, 16), (0, 2)])
def test_shards_are_disjoint_contiguous_and_cover_the_split(n, shards):
    rows = pd.DataFrame({"image_id": [f"id{i}" for i in range(n)]})
    parts = [shard_rows(rows, k, shards) for k in range(shards)]
    assert pd.concat(parts)["image_id"].tolist() == rows["image_id"].tolist()
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def write_cache(path, ids, empty_maps, checkpoint="abc"):
    with CamCacheWriter(path, {"split": "train", "checkpoint_sha256": checkpoint, "n_empty_maps": empty_maps}) as writer:
        for image_id in ids:
            writer.add(image_id, [1], (2, 3), high_res=np.full((1, 2, 3), len(image_id), np.float32))


def test_h5_shards_merge_into_one_cache(tmp_path):
    write_cache(tmp_path / "0.h5", ["a", "test/b.jpg"], 2)
    write_cache(tmp_path / "1.h5", ["cc"], 1)
    assert merge_h5([tmp_path / "0.h5", tmp_path / "1.h5"], tmp_path / "all.h5") == 3
    with CamCache(tmp_path / "all.h5", expect={"split": "train", "checkpoint_sha256": "abc"}) as cache:
        assert sorted(cache.ids()) == ["a", "cc", "test/b.jpg"]
        assert cache.read("cc")["high_res"].max() == 2 and cache.attrs["n_empty_maps"] == 3  # counts add up
    write_cache(tmp_path / "2.h5", ["a"], 0)
    with pytest.raises(CacheError, match=r"2.h5: image group 'a' is also in"):
        merge_h5([tmp_path / "0.h5", tmp_path / "2.h5"], tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists() and not (tmp_path / "bad.h5.partial").exists()
    write_cache(tmp_path / "3.h5", ["dd"], 0, checkpoint="other")
    with pytest.raises(CacheError, match="3.h5: its attributes differ"):
        merge_h5([tmp_path / "0.h5", tmp_path / "3.h5"], tmp_path / "mixed.h5")


def test_png_shards_merge_into_one_folder(tmp_path):
    for shard, ids in enumerate((["a", "b"], ["c"])):
        for image_id in ids:
            write_label_png(tmp_path / f"s{shard}" / f"{image_id}.png", np.full((2, 2), shard + 1, np.uint8))
    assert merge_folders([tmp_path / "s0", tmp_path / "s1"], tmp_path / "masks") == 3
    assert read_label_png(tmp_path / "masks" / "c.png").tolist() == [[2, 2], [2, 2]]
    with pytest.raises(CacheError, match="also in shard"):
        merge_folders([tmp_path / "s0", tmp_path / "s0"], tmp_path / "twice")
