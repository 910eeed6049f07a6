"""Folder outputs: a '<folder>.partial' is resumed only for the same work (params + input checksums),
never published with leftovers of a killed write, and published with its provenance record."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from wsss.io.folders import finish_folder, partial_folder
from wsss.runtime import PROVENANCE_FILE, provenance_record


def record(tmp_path, value):
    (tmp_path / "input.txt").write_text("the same input")
    return provenance_record({"alpha": value}, [tmp_path / "input.txt"])


def test_partial_of_the_same_work_is_resumed_of_other_work_emptied(tmp_path):
    folder = tmp_path / "masks"
    work = partial_folder(folder, record(tmp_path, 1))
    (work / "a.png").write_bytes(b"made with alpha 1")
    assert (partial_folder(folder, record(tmp_path, 1)) / "a.png").exists()  # same params and inputs: resumed
    assert not (partial_folder(folder, record(tmp_path, 2)) / "a.png").exists()  # other params: emptied
    (work / "b.png").write_bytes(b"made with alpha 2")
    (tmp_path / "input.txt").write_text("another input")  # same params, other input: emptied too
    stale = provenance_record({"alpha": 2}, [tmp_path / "input.txt"])
    assert not (partial_folder(folder, stale) / "b.png").exists()


def test_an_unstamped_partial_is_not_trusted(tmp_path):
    folder = tmp_path / "masks"
    (tmp_path / "masks.partial").mkdir()
    (tmp_path / "masks.partial" / "a.png").write_bytes(b"from an older version, params unknown")
    assert not (partial_folder(folder, record(tmp_path, 1)) / "a.png").exists()


def test_finish_publishes_the_record_and_drops_leftover_tmp_files(tmp_path):
    folder = tmp_path / "masks"
    work = partial_folder(folder, record(tmp_path, 1))
    (work / "a.png").write_bytes(b"png")
    (work / "b.png.tmp").write_bytes(b"half a png")  # a write killed before its rename
    finish_folder(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", PROVENANCE_FILE]
    published = json.loads((folder / PROVENANCE_FILE).read_text())
    assert published["config"] == {"alpha": 1} and set(published) >= {"inputs_sha256", "git_describe"}
    assert not (tmp_path / "masks.partial").exists()


class Constant(torch.nn.Module):
    """A fake segmenter whose logits favour one class everywhere."""

    def __init__(self, label):
        super().__init__()
        self.label = label
        self.backbone = type("B", (), {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)})()

    def forward(self, x):
        logits = torch.zeros((x.shape[0], 21, *x.shape[-2:]))
        logits[:, self.label] = 5.0
        return logits


def test_segment_images_never_mixes_masks_of_two_segmenters(tmp_path, monkeypatch):
    from PIL import Image

    import wsss.stages.segment_images as stage
    from wsss.io.png import read_label_png

    (tmp_path / "JPEGImages").mkdir()
    for image_id in ("a", "b", "c"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / "JPEGImages" / f"{image_id}.jpg")
    rows = pd.DataFrame({"image_id": ["a", "b", "c"]})
    (tmp_path / "model_a.pt").write_bytes(b"segmenter A")
    (tmp_path / "model_b.pt").write_bytes(b"segmenter B")
    out = tmp_path / "segmentation"
    kwargs = dict(scales=[1.0], flip=False, crf=None, device="cpu", progress=False)
    original, calls = stage.segment_probabilities, []

    def stops_at_the_second_image(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kw)

    monkeypatch.setattr(stage, "segment_probabilities", stops_at_the_second_image)
    with pytest.raises(KeyboardInterrupt):
        stage.write_segmentation(Constant(3), tmp_path, rows, out,
                                 provenance=provenance_record({}, [tmp_path / "model_a.pt"]), **kwargs)
    monkeypatch.setattr(stage, "segment_probabilities", original)
    stats = stage.write_segmentation(Constant(7), tmp_path, rows, out,
                                     provenance=provenance_record({}, [tmp_path / "model_b.pt"]), **kwargs)
    assert stats["resumed"] == 0
    assert all((read_label_png(out / f"{i}.png") == 7).all() for i in ("a", "b", "c"))
