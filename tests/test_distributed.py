"""Training under torchrun with two CPU processes (gloo)."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.distributed as dist

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo"
)

SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from gaptorch import Denoiser
    from gaptorch.distributed import current
    out, steps, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"
    rng = np.random.default_rng(0)
    noisy = rng.poisson(np.full((48, 48), 2.0)).astype(np.uint16)
    network = {"depth": 2, "start_filters": 4, "levels": 4}
    denoiser = Denoiser.train(noisy, steps=steps, seed=0, network=network,
                              batch_size=2, patch_size=16, checkpoint_dir=out, checkpoint_every=2,
                              resume=resume, log_every=1)
    weights = torch.cat([p.detach().flatten() for p in denoiser.network.parameters()])
    torch.save(weights, f"{out}/weights-rank{current().rank}-of-{current().size}.pt")
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(script, out, steps, mode, processes):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={processes}",
        f"--master_port={_free_port()}",
        str(script),
        str(out),
        str(steps),
        mode,
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_two_ranks_stay_identical_and_their_checkpoint_resumes_on_one(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    _run(script, tmp_path, 4, "fresh", 2)
    rank0 = torch.load(tmp_path / "weights-rank0-of-2.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "weights-rank1-of-2.pt", weights_only=True)
    assert torch.equal(rank0, rank1)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 4 and state["world_size"] == 2
    _run(script, tmp_path, 6, "resume", 1)
    resumed = torch.load(tmp_path / "weights-rank0-of-1.pt", weights_only=True)
    after = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert after["step"] == 6 and after["world_size"] == 1
    assert not torch.equal(resumed, rank0)
    assert [row["step"] for row in after["history"]] == [1, 2, 3, 4, 5, 6]


def _denoise(args, processes):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={processes}",
        f"--master_port={_free_port()}",
        "-m",
        "gaptorch.cli",
        "denoise",
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_sharded_denoise_writes_every_output_once(tmp_path, tiny_model_dir):
    import numpy as np
    import tifffile

    rng = np.random.default_rng(0)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b", "c"):
        tifffile.imwrite(inputs / f"{name}.tif", rng.poisson(2.0, (2, 40, 36)).astype(np.uint16))
    completed = _denoise(
        [str(inputs), "-o", str(tmp_path / "out"), "--model", str(tiny_model_dir)], 2
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    written = sorted(p.name for p in (tmp_path / "out").rglob("*"))
    assert written == ["a.tif", "b.tif", "c.tif"]
    assert completed.stderr.count("3 done") == 1  # one summary, from rank 0


def test_one_stack_split_over_ranks_matches_one_process(tmp_path, tiny_model_dir):
    import numpy as np
    import tifffile

    stack = np.random.default_rng(1).poisson(2.0, (5, 40, 36)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "TYX"})
    args = ["--model", str(tiny_model_dir), "--batch-size", "1"]
    for processes, out in ((2, "two"), (1, "one")):
        completed = _denoise(
            [str(tmp_path / "stack.tif"), "-o", str(tmp_path / out), *args], processes
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["stack.tif"]
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "two" / "stack.tif"),
        tifffile.imread(tmp_path / "one" / "stack.tif"),
        rtol=1e-6,
        atol=1e-6,
    )
