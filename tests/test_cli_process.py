"""The `gap` command as a real process: exit codes, a killed batch, a memory cap."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from image_files import counts, metadata_fields, sha256, write_imagej, write_ome, write_plain

from gaptorch import Denoiser

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
GAP = Path(sys.executable).parent / "gap"

# Runs the CLI after capping the address space at what is in use + GAP_TEST_HEADROOM_MB,
# and prints the peak resident memory above the level at the cap.
CAPPED = """
import os, resource, sys
import torch
from gaptorch.cli.main import main
from gaptorch.models import build

def status(key):
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))

with torch.no_grad():  # warm up torch's CPU kernels before the cap
    build("unet", depth=2, start_filters=4, levels=4)(torch.zeros(1, 1, 64, 64))
resident = status("VmRSS")
headroom = int(os.environ["GAP_TEST_HEADROOM_MB"]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + headroom, -1))
try:
    main(sys.argv[1:], prog_name="gap")
finally:
    print(f"peak RSS above start: {status('VmHWM') - resident}", file=sys.stderr)
"""

# Runs the CLI with Denoiser.denoise stalling (forever) on its 7th call, after a marker file.
STALLING = """
import sys, time
from pathlib import Path
from gaptorch import Denoiser
from gaptorch.cli.main import main

real, calls = Denoiser.denoise, [0]

def stalls(self, *args, **kwargs):
    calls[0] += 1
    if calls[0] == 7:
        Path(sys.argv[1]).touch()
        time.sleep(600)
    return real(self, *args, **kwargs)

Denoiser.denoise = stalls
main(sys.argv[2:], prog_name="gap")
"""


def run(*args, timeout=300):
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


def test_gap_script_keeps_metadata_and_inputs(tiny_model_dir, tmp_path):
    files = [write_imagej(tmp_path / "hyper.tif"), write_ome(tmp_path / "cells.ome.tif")]
    hashes = [sha256(f) for f in files]
    command = GAP if GAP.exists() else None
    prefix = [command] if command else [sys.executable, "-m", "gaptorch"]
    done = run(*prefix, "denoise", *files, "-o", tmp_path / "out", "--model", tiny_model_dir)
    assert done.returncode == 0, done.stderr
    for source in files:
        assert metadata_fields(tmp_path / "out" / source.name) == metadata_fields(source)
    assert [sha256(f) for f in files] == hashes


def test_bad_input_in_a_real_process_is_one_line_and_exit_2(tiny_model_dir, tmp_path):
    (tmp_path / "in.tif").write_text("text, not an image")
    failed = run(
        sys.executable,
        "-m",
        "gaptorch",
        "denoise",
        tmp_path / "in.tif",
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_dir,
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'in.tif'}: cannot read image (not a TIFF file: header=b'text')"
    ]


def test_killed_batch_resumes_when_rerun(tiny_model_dir, tmp_path):
    (tmp_path / "in").mkdir()
    for name in "abc":
        write_plain(tmp_path / "in" / f"{name}.tif")
    marker = tmp_path / "stalled"
    script = tmp_path / "stalling.py"
    script.write_text(STALLING)
    arguments = ["denoise", tmp_path / "in", "-o", tmp_path / "out", "--model", tiny_model_dir]
    child = subprocess.Popen(
        [sys.executable, script, marker, *map(str, arguments), "--batch-size", "1"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the batch never reached the second file"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "a.tif"
    ]
    assert [
        p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".b.tif.")
    ]  # the killed write
    resumed = run(
        GAP if GAP.exists() else sys.executable,
        *([] if GAP.exists() else ["-m", "gaptorch"]),
        *arguments,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "2 done, 1 skipped, 0 failed of 3 files" in resumed.stderr
    model = Denoiser.from_pretrained(tiny_model_dir, device="cpu")
    expected = model.denoise(tifffile.imread(tmp_path / "in" / "b.tif"), "TYX")
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "out" / "b.tif"), expected, rtol=1e-5, atol=1e-5
    )


def _capped_run(tiny_model_dir, tmp_path, planes, size, headroom_mb):
    """Denoise a BigTIFF of `planes` x `size`^2 uint16 with RLIMIT_AS = in use + headroom."""
    base = counts((size, size))
    path = tmp_path / "stack.tif"
    tifffile.imwrite(
        path,
        (np.roll(base, i, axis=1) for i in range(planes)),
        shape=(planes, size, size),
        dtype=np.uint16,
        bigtiff=True,
        metadata={"axes": "TYX"},
    )
    script = tmp_path / "capped.py"
    script.write_text(CAPPED)
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "denoise",
            str(path),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(tiny_model_dir),
            "--output-dtype",
            "same",
        ],
        capture_output=True,
        text=True,
        # glibc reserves 64 MiB of address space for each thread's malloc arena (the prefetching
        # reader is a thread): the cap counts address space, so keep to one arena.
        env={**ENV, "GAP_TEST_HEADROOM_MB": str(headroom_mb), "MALLOC_ARENA_MAX": "1"},
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    peak = int(result.stderr.strip().splitlines()[-1].split(": ")[1])
    model = Denoiser.from_pretrained(tiny_model_dir, device="cpu")
    with tifffile.TiffFile(tmp_path / "out" / "stack.tif") as out:
        for index in (0, planes - 1):
            plane = np.roll(base, index, axis=1)
            expected = np.clip(np.rint(model.denoise(plane)), 0, 65535)
            assert np.abs(out.pages[index].asarray().astype(np.float64) - expected).max() <= 1
        assert out.is_bigtiff
    print(
        f"capped run: file {path.stat().st_size / 2**20:.1f} MiB, "
        f"cap {headroom_mb} MiB above start, "
        f"peak RSS {peak / 2**20:.1f} MiB above start; {result.stderr.splitlines()[-2]}"
    )
    return path.stat().st_size, peak


def test_a_stack_larger_than_the_memory_cap_streams(tiny_model_dir, tmp_path):
    file_bytes, peak = _capped_run(tiny_model_dir, tmp_path, planes=1536, size=128, headroom_mb=32)
    assert file_bytes > 48 * 10**6 > 32 * 2**20
    assert peak < 32 * 2**20 < file_bytes


@pytest.mark.slow
def test_a_gigabyte_stack_streams_under_a_256_mb_cap(tiny_model_dir, tmp_path):
    file_bytes, peak = _capped_run(tiny_model_dir, tmp_path, planes=512, size=1024, headroom_mb=256)
    assert file_bytes > 2**30 and peak < 256 * 2**20
