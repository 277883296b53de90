"""``audiofx train`` under ``torchrun --nproc_per_node=2`` on CPU (gloo): both ranks end with
identical weights, equal to the checkpoint rank 0 wrote, and the validation metrics cover every
validation clip exactly once (summed over the ranks' shards)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "make_spoken_digits.py")


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                    reason="needs espeak-ng and sox (apt-get install espeak-ng sox)")
def test_torchrun_two_processes_end_with_identical_weights(tmp_path):
    data = tmp_path / "digits"
    subprocess.run([sys.executable, SCRIPT, str(data), "--digits", "zero", "one", "two",
                    "--per-digit", "9", "--test-per-digit", "0", "--seed", "5"],
                   check=True, capture_output=True)
    dump = tmp_path / "dump"
    out = tmp_path / "run"
    env = dict(os.environ, AUDIOFX_DUMP_FINAL_STATE=str(dump), OMP_NUM_THREADS="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "audiofx", "train", str(data / "train"), "--out", str(out), "--epochs", "2",
           "--batch-size", "4", "--features", "mel", "zcr", "--n-mels", "32",
           "--hop-length", "256", "--val-fraction", "0.34", "--device", "cpu",
           "--no-progress", "--log-clips", "1", "--seed", "3", "--model-arg", "channels=(8, 16)"]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 process(es) on cpu" in p.stderr

    r0 = torch.load(dump / "rank0.pt", weights_only=True)
    r1 = torch.load(dump / "rank1.pt", weights_only=True)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert r0.keys() == r1.keys() == ckpt["state_dict"].keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
        assert torch.equal(r0[k], ckpt["state_dict"][k]), k
    assert ckpt["epoch"] == 2
    assert ckpt["train_args"]["world_size"] == 2 and len(ckpt["rng"]) == 2
    n_val = len(ckpt["split"]["val"])
    assert n_val == 9  # 3 of 9 per class
    for h in ckpt["history"]:
        assert h["val"]["n"] == n_val
        assert sum(map(sum, h["val"]["confusion"])) == n_val
