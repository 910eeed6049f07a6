"""wsss.runtime: the device check (a GPU asked for where there is none) and the provenance helper."""

import hashlib
import json

import pytest
import torch

from wsss.errors import WSSSError
from wsss.runtime import (as_attributes, job_logger, provenance_path, provenance_record, read_provenance,
                          resolve_device, same_work, write_provenance)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cuda_without_a_gpu_fails_naming_the_config_key(no_cuda):
    with pytest.raises(WSSSError, match=r"config key 'device' is 'cuda' but no CUDA GPU is visible "
                                        r"\(set device: auto or allow_cpu_fallback: true\)"):
        resolve_device("cuda", allow_cpu_fallback=False)
    assert resolve_device("auto") == torch.device("cpu")


def test_cuda_fallback_warns_into_the_rule_log_file(no_cuda, tmp_path):
    log = job_logger(tmp_path / "rule.log", "rule")
    assert resolve_device("cuda:0", allow_cpu_fallback=True, log=log) == torch.device("cpu")
    for handler in log.handlers:
        handler.close()
    log.handlers.clear()
    text = (tmp_path / "rule.log").read_text()
    assert "WARNING config key 'device' is 'cuda:0' but no CUDA GPU is visible: running on the CPU" in text


def test_provenance_record_holds_config_code_version_and_input_checksums(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"alpha")
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "x.png").write_bytes(b"png")
    record = provenance_record({"beta": 8, "scales": (1.0, 0.5)}, [tmp_path / "a.txt", tmp_path / "masks"])
    assert record["config"] == {"beta": 8, "scales": [1.0, 0.5]}
    assert record["inputs_sha256"][str(tmp_path / "a.txt")] == hashlib.sha256(b"alpha").hexdigest()
    assert len(record["inputs_sha256"][str(tmp_path / "masks")]) == 64  # a folder: all of its files
    assert record["git_describe"] and record["wsss_version"]
    assert json.loads(as_attributes(record)["inputs_sha256"]) == record["inputs_sha256"]

    table = tmp_path / "scores.tsv"
    table.write_text("miou\n0.5\n")
    assert write_provenance(table, record) == tmp_path / "scores.tsv.provenance.json"  # beside a file
    assert write_provenance(tmp_path / "masks", record) == tmp_path / "masks" / "provenance.json"  # inside a folder
    assert read_provenance(table) == record and provenance_path(tmp_path / "masks").is_file()
    assert not list(tmp_path.rglob("*.tmp"))


def test_same_work_compares_config_and_inputs_not_the_code_version(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"alpha")
    record = provenance_record({"beta": 8}, [tmp_path / "a.txt"])
    assert same_work(record, {**record, "git_describe": "other"})
    assert not same_work(record, provenance_record({"beta": 4}, [tmp_path / "a.txt"]))
    assert not same_work(record, None)


def test_large_inputs_are_hashed_once_and_a_rewritten_file_is_hashed_again(tmp_path, monkeypatch):
    import os
    from pathlib import Path

    from wsss.io import checkpoint
    from wsss.runtime import input_checksums

    monkeypatch.setattr(checkpoint, "RECORD_BYTES", 1000)
    big, small = tmp_path / "cams.h5", tmp_path / "code.py"
    big.write_bytes(bytes(range(256)) * 8)
    small.write_bytes(b"print(1)\n")
    reads = []
    real = checkpoint._hash_bytes
    monkeypatch.setattr(checkpoint, "_hash_bytes", lambda path, *a: reads.append(Path(path).name) or real(path, *a))
    first = input_checksums([big, small])
    assert checkpoint.checksum_path(big).exists() and not checkpoint.checksum_path(small).exists()
    again = input_checksums([big, small])
    assert again == first and reads == ["cams.h5", "code.py", "code.py"]  # the big file read once
    assert first[str(big)] == hashlib.sha256(big.read_bytes()).hexdigest()
    big.write_bytes(bytes(range(255, -1, -1)) * 8)  # same size, other bytes, a later mtime
    os.utime(big, ns=(os.stat(big).st_atime_ns, os.stat(big).st_mtime_ns + 1_000_000))
    assert input_checksums([big])[str(big)] == hashlib.sha256(big.read_bytes()).hexdigest() != first[str(big)]


def test_save_atomic_records_the_checksum_of_a_large_output(tmp_path, monkeypatch):
    import torch

    from wsss.io import checkpoint

    monkeypatch.setattr(checkpoint, "RECORD_BYTES", 1000)
    checkpoint.save_atomic({"w": torch.zeros(1000)}, tmp_path / "model.pt", checksum=True)
    checkpoint.save_atomic({"w": torch.zeros(1000)}, tmp_path / "state.pt")
    assert checkpoint.recorded_sha256(tmp_path / "model.pt") == checkpoint._hash_bytes(tmp_path / "model.pt")
    assert not checkpoint.checksum_path(tmp_path / "state.pt").exists()


def test_jobs_claim_different_gpus_and_a_freed_gpu_is_claimed_again(tmp_path):
    """claim_gpu in separate processes, as GPU jobs of one box run: two jobs get GPUs 0 and 1; a third
    waits while both are held and gets the GPU of the first job once that one has exited."""
    import select
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent(f"""
        import sys
        from wsss.runtime import claim_gpu
        print("ready", flush=True)
        print(claim_gpu(2, {str(tmp_path)!r}, poll_seconds=0.05), flush=True)
        sys.stdin.read()
    """)
    repo = str(Path(__file__).resolve().parents[1])
    jobs = []

    def job():
        jobs.append(subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=repo))
        assert jobs[-1].stdout.readline().strip() == "ready"
        return jobs[-1]

    try:
        first = job()
        assert first.stdout.readline().strip() == "0"
        assert job().stdout.readline().strip() == "1"
        third = job()
        assert select.select([third.stdout], [], [], 1.0)[0] == []  # both GPUs held: it waits
        first.stdin.close()
        first.wait(timeout=30)
        assert third.stdout.readline().strip() == "0"
    finally:
        for process in jobs:
            process.kill()
            process.wait()
