import h5py
import numpy as np
import pytest

from wsss.errors import CacheError
from wsss.io.h5cache import CamCache, CamCacheWriter

ATTRS = {"split": "val", "checkpoint_sha256": "abc", "config": "{}"}


def write_two(path):
    with CamCacheWriter(path, ATTRS) as writer:
        writer.add("a", [3, 7], (32, 40), cam=np.full((2, 4, 5), 0.5), high_res=np.full((2, 32, 40), 0.25))
        writer.add("b", [1], (32, 40), cam=np.zeros((1, 4, 5)), high_res=np.zeros((1, 32, 40)))


def test_documented_schema(tmp_path):
    path = tmp_path / "val.h5"
    write_two(path)
    assert not (tmp_path / "val.h5.partial").exists()
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "wsss-cams" and f.attrs["schema_version"] == 1
        assert f.attrs["split"] == "val" and f.attrs["checkpoint_sha256"] == "abc"
        group = f["a"]
        assert list(group.attrs["keys"]) == [3, 7]
        assert (group.attrs["height"], group.attrs["width"]) == (32, 40)
        assert group["cam"].shape == (2, 4, 5) and group["high_res"].shape == (2, 32, 40)
        assert group["high_res"].compression == "gzip" and group["high_res"].chunks == (1, 32, 40)
    with CamCache(path) as cache:
        entry = cache.read("a")
        assert entry["size"] == (32, 40) and entry["keys"].tolist() == [3, 7]
        np.testing.assert_allclose(entry["high_res"], 0.25)
        assert cache.ids() == ["a", "b"]


def test_killed_write_leaves_no_final_file_and_resumes(tmp_path):
    path = tmp_path / "val.h5"
    with pytest.raises(RuntimeError):
        with CamCacheWriter(path, ATTRS) as writer:
            writer.add("a", [3], (8, 8), cam=np.ones((1, 2, 2)), high_res=np.ones((1, 8, 8)))
            raise RuntimeError("killed")
    assert not path.exists() and (tmp_path / "val.h5.partial").exists()
    with CamCacheWriter(path, ATTRS) as writer:
        assert writer.done() == {"a"}  # resumes
    assert path.exists() and not (tmp_path / "val.h5.partial").exists()
    # a partial made with another checkpoint is discarded, not resumed
    with pytest.raises(RuntimeError):
        with CamCacheWriter(tmp_path / "x.h5", ATTRS) as writer:
            writer.add("a", [3], (8, 8), cam=np.ones((1, 2, 2)), high_res=np.ones((1, 8, 8)))
            raise RuntimeError
    with CamCacheWriter(tmp_path / "x.h5", {**ATTRS, "checkpoint_sha256": "new"}) as writer:
        assert writer.done() == set()


def test_reader_rejects_wrong_provenance(tmp_path):
    path = tmp_path / "val.h5"
    write_two(path)
    with pytest.raises(CacheError, match="val.h5: attribute checkpoint_sha256='abc' but this stage expects 'zzz'"):
        CamCache(path, expect={"checkpoint_sha256": "zzz"})
    with pytest.raises(CacheError, match="does not exist"):
        CamCache(tmp_path / "missing.h5")
