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


def killed_partial(path, n=4):
    """A partial cache of n images left as a SIGKILL leaves it: never closed by the writer, never renamed."""
    writer = CamCacheWriter(path, ATTRS).__enter__()
    rng = np.random.default_rng(0)
    for i in range(n):
        writer.add(f"im{i}", [1, 2], (32, 32), cam=rng.random((2, 4, 4)), high_res=rng.random((2, 32, 32)))
    writer.file.close()
    return path.with_name(path.name + ".partial")


def damage(partial, offset):
    with open(partial, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * 64)


@pytest.mark.parametrize("where", ["chunk", "object header"])
def test_a_damaged_but_openable_partial_is_started_over(tmp_path, where):
    partial = killed_partial(tmp_path / "val.h5")
    with h5py.File(partial, "r") as f:  # the data of im2, or im2's group header, overwritten
        group = f["im2"]
        offset = (group["high_res"].id.get_chunk_info(0).byte_offset if where == "chunk"
                  else h5py.h5o.get_info(group.id).addr + 8)
    damage(partial, offset)
    with h5py.File(partial, "r") as f:  # still opens: only reading im2 fails
        assert f.attrs["split"] == "val"
    with CamCacheWriter(tmp_path / "val.h5", ATTRS) as writer:
        assert writer.restarted and writer.done() == set()
        writer.add("im0", [1], (8, 8), cam=np.ones((1, 2, 2)), high_res=np.ones((1, 8, 8)))
    with CamCache(tmp_path / "val.h5") as cache:
        assert cache.ids() == ["im0"] and cache.read("im0")["high_res"].shape == (1, 8, 8)


def test_an_intact_killed_partial_is_resumed(tmp_path):
    killed_partial(tmp_path / "val.h5")
    with CamCacheWriter(tmp_path / "val.h5", ATTRS) as writer:
        assert not writer.restarted and writer.done() == {"im0", "im1", "im2", "im3"}


def test_a_failed_hdf5_write_deletes_the_partial_so_the_rerun_starts_over(tmp_path, monkeypatch):
    import wsss.io.h5cache as h5cache

    killed_partial(tmp_path / "val.h5")

    def broken(group, name, array):
        raise OSError("Can't write data (file write failed)")

    monkeypatch.setattr(h5cache, "_dataset", broken)
    with pytest.raises(CacheError, match=r"val.h5.partial: cannot write image 'im9' .* a rerun starts this cache over"):
        with CamCacheWriter(tmp_path / "val.h5", ATTRS) as writer:
            writer.add("im9", [1], (8, 8), cam=np.ones((1, 2, 2)), high_res=np.ones((1, 8, 8)))
    assert not (tmp_path / "val.h5.partial").exists() and not (tmp_path / "val.h5").exists()


def smooth_maps(rng, k=2, size=128):
    """(k, size, size) max-normalised ReLU'd Gaussian blobs, like CAMs: smooth, zero away from the object."""
    yy, xx = np.mgrid[:size, :size]
    maps = []
    for _ in range(k):
        cy, cx, sigma = rng.uniform(20, size - 20), rng.uniform(20, size - 20), rng.uniform(8, 24)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
        maps.append(np.maximum(blob - 0.1, 0) / 0.9)
    return np.stack(maps)


def test_size_per_image_and_compression_of_smooth_maps(tmp_path, capsys):
    from wsss.io.h5cache import cache_size, main

    rng = np.random.default_rng(0)
    path = tmp_path / "train.h5"
    with CamCacheWriter(path, ATTRS) as writer:
        for i in range(6):
            high_res = smooth_maps(rng)
            writer.add(f"im{i}", [3, 9], (128, 128), cam=high_res[:, ::8, ::8], high_res=high_res)
    stats = cache_size(path)
    assert stats["images"] == 6 and stats["file_bytes"] == path.stat().st_size
    assert stats["bytes_per_image"] == pytest.approx(path.stat().st_size / 6)
    assert stats["raw_float16_bytes"] == 6 * 2 * (128 * 128 + 16 * 16) * 2
    assert stats["file_bytes"] < 0.6 * stats["raw_float16_bytes"]  # gzip + shuffle beat raw float16
    main(["size", str(path)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("cache_size images=10582 ")
    assert f"bytes={stats['bytes_per_image'] * 10582:.0f}" in last


def test_raw_maps_are_stored_float32_and_read_back_exactly(tmp_path):
    path = tmp_path / "val.h5"
    raw = np.array([[[1234.5678, -0.0012345], [3.3333333, -77.777]]], dtype=np.float32)  # float16 would round these
    with CamCacheWriter(path, ATTRS) as writer:
        writer.add("a", [4], (2, 2), cam=np.ones((1, 1, 1)), high_res=np.ones((1, 2, 2)), raw=raw)
        writer.add("b", [4], (2, 2), cam=np.ones((1, 1, 1)), high_res=np.ones((1, 2, 2)))
    with h5py.File(path, "r") as f:
        assert f["a"]["raw"].dtype == np.float32 and f["a"]["high_res"].dtype == np.float16
    with CamCache(path) as cache:
        np.testing.assert_array_equal(cache.read("a")["raw"], raw)
        assert "raw" not in cache.read("b")  # caches made without cams.keep_raw have no 'raw'


def test_caches_open_without_hdf5_file_locking(tmp_path):
    """Another process holding a file open for writing makes a locking open fail ("unable to lock
    file"), as a missing flock does on NFS / Lustre; open_h5 does not lock, so it still opens."""
    import subprocess
    import sys
    import textwrap

    import h5py

    from wsss.io.h5cache import open_h5

    path = tmp_path / "held.h5"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, h5py
        handle = h5py.File({str(path)!r}, "w")
        handle.attrs["x"] = 1
        handle.flush()
        print("open", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(OSError, match="lock"):
            h5py.File(path, "r")
        with open_h5(path, "r") as handle:
            assert handle.attrs["x"] == 1
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
