import csv

import numpy as np
import pytest
import torch
from conftest import TINY_NETWORK

from gaptorch import Denoiser, TrainConfig
from gaptorch.data import PatchSampler
from gaptorch.pretrained import sha256_of

OPTIONS = {
    "network": TINY_NETWORK,
    "batch_size": 4,
    "patch_size": 24,
    "val_every": 5,
    "log_every": 5,
}


def _weights(denoiser):
    return torch.cat([p.detach().flatten() for p in denoiser.network.parameters()])


def test_same_seed_same_weights(camera_counts):
    noisy, _ = camera_counts
    a = Denoiser.train(noisy, steps=6, seed=3, **OPTIONS)
    b = Denoiser.train(noisy, steps=6, seed=3, **OPTIONS)
    c = Denoiser.train(noisy, steps=6, seed=4, **OPTIONS)
    assert torch.equal(_weights(a), _weights(b))
    assert not torch.equal(_weights(a), _weights(c))


def test_resumed_run_ends_where_an_uninterrupted_one_does(camera_counts, tmp_path, monkeypatch):
    noisy, _ = camera_counts
    straight = Denoiser.train(noisy, steps=10, seed=1, **OPTIONS)
    sample = PatchSampler.sample
    calls = {"training": 0}

    def crash_at_step_nine(self, batch_size, generator):
        if self.transforms > 1:  # the training sampler augments, the validation one does not
            calls["training"] += 1
            if calls["training"] == 9:
                raise KeyboardInterrupt("simulated crash")
        return sample(self, batch_size, generator)

    monkeypatch.setattr(PatchSampler, "sample", crash_at_step_nine)
    with pytest.raises(KeyboardInterrupt):
        Denoiser.train(
            noisy, steps=10, seed=1, checkpoint_dir=str(tmp_path), checkpoint_every=4, **OPTIONS
        )
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 8
    monkeypatch.setattr(PatchSampler, "sample", sample)
    resumed = Denoiser.train(
        noisy,
        steps=10,
        seed=1,
        checkpoint_dir=str(tmp_path),
        resume=True,
        checkpoint_every=4,
        **OPTIONS,
    )
    torch.testing.assert_close(_weights(resumed), _weights(straight))


def test_csv_log_has_a_row_per_logged_step(camera_counts, tmp_path):
    noisy, _ = camera_counts
    log = tmp_path / "log.csv"
    Denoiser.train(noisy, steps=10, seed=0, log_csv=str(log), **OPTIONS)
    rows = list(csv.DictReader(log.read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [5, 10]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert np.isfinite(float(rows[-1]["val_loss"]))


def test_gap_trains_on_the_chosen_loss_and_records_it(camera_counts, tmp_path):
    noisy, _ = camera_counts
    logged = {}
    for loss in ("photon", "log_mse"):
        log = tmp_path / f"{loss}.csv"
        denoiser = Denoiser.train(noisy, steps=10, seed=0, loss=loss, log_csv=str(log), **OPTIONS)
        assert denoiser.spec.method_config["loss"] == loss
        rows = list(csv.DictReader(log.read_text().splitlines()))
        logged[loss] = [float(r["val_loss"]) for r in rows]
    assert all(np.isfinite(v) for values in logged.values() for v in values)
    # Same seed, same batches: only the loss differs. The held-out photons of a split at
    # up to 1 photon/pixel are few, so the log MSE against them is well above 0, while
    # the photon loss is near 0 there.
    assert min(logged["log_mse"]) > 1.0 and max(abs(v) for v in logged["photon"]) < 0.1


def test_ema_weights_differ_from_raw_weights(camera_counts):
    noisy, _ = camera_counts
    raw = Denoiser.train(noisy, steps=6, seed=0, **OPTIONS)
    ema = Denoiser.train(noisy, steps=6, seed=0, ema_decay=0.9, **OPTIONS)
    assert not torch.equal(_weights(raw), _weights(ema))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 5, "lr": -1.0}, "lr"),
        ({"steps": 5, "val_fraction": 1.0}, "val_fraction"),
        ({"steps": 5, "resume": True}, "checkpoint_dir"),
        ({"steps": 5, "optimizer": "sgd"}, "optimizer"),
        ({"steps": 5, "patch_size": 1}, "patch_size"),
    ],
)
def test_config_rejects_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


def test_keep_best_returns_the_weights_of_the_best_validation(camera_counts, monkeypatch):
    import gaptorch.training as training

    noisy, _ = camera_counts
    options = {**OPTIONS, "schedule": "constant", "warmup_steps": 0, "val_every": 5, "log_every": 5}
    scripted = iter([3.0, 1.0, 2.0])
    monkeypatch.setattr(training, "_validation_loss", lambda *args: next(scripted))
    best = Denoiser.train(noisy, steps=15, seed=2, keep_best=True, **options)
    monkeypatch.undo()
    # With a constant learning rate the first 10 steps do not depend on the run length.
    at_step_10 = Denoiser.train(noisy, steps=10, seed=2, keep_best=False, **options)
    assert torch.equal(_weights(best), _weights(at_step_10))


def test_fine_tuning_starts_from_the_given_model_and_records_it(tiny_model_dir, camera_counts):
    noisy, _ = camera_counts
    start = Denoiser.from_pretrained(tiny_model_dir)
    options = {"batch_size": 2, "patch_size": 24, "val_every": 5}
    tuned = Denoiser.train(noisy, steps=2, seed=5, init=str(tiny_model_dir), lr=1e-9, **options)
    fresh = Denoiser.train(noisy, steps=2, seed=5, network=TINY_NETWORK, lr=1e-9, **options)
    torch.testing.assert_close(_weights(tuned), _weights(start), atol=1e-6, rtol=0)
    assert not torch.allclose(_weights(fresh), _weights(start), atol=1e-3)
    assert tuned.spec.network == start.spec.network
    assert tuned.spec.training["init"] == {
        "model": str(tiny_model_dir),
        "model_sha256": sha256_of(tiny_model_dir / "model.safetensors"),
        **{key: start.spec.training[key] for key in ("name", "steps", "seconds", "device")},
    }
    trained_on = Denoiser.train(noisy, steps=20, seed=5, init=str(tiny_model_dir), lr=1e-2)
    assert not torch.allclose(_weights(trained_on), _weights(start), atol=1e-4)


def test_a_bundled_model_can_be_fine_tuned_by_name(camera_counts):
    noisy, _ = camera_counts
    tuned = Denoiser.train(
        noisy[:64, :64], steps=1, seed=0, init="gap-fluo-2d", supervision="self", batch_size=1
    )
    assert tuned.spec.network == Denoiser.from_pretrained("gap-fluo-2d").spec.network
    assert tuned.denoise(noisy[:32, :32]).shape == (32, 32)


@pytest.mark.parametrize(
    ("train", "options", "message"),
    [
        (Denoiser.train, {"network": {"depth": 3}}, "is architecture 'unet'"),
        (Denoiser.train, {"architecture": "light_unet"}, "is architecture 'unet'"),
        (Denoiser.train, {"method": "n2n"}, "is a gap denoiser, not a n2n denoiser"),
        ("generator", {}, "is a gap denoiser, not a gap generator"),
    ],
)
def test_fine_tuning_refuses_a_model_that_does_not_fit(
    tiny_model_dir, camera_counts, train, options, message
):
    from gaptorch import Generator

    noisy, _ = camera_counts
    train = Generator.train if train == "generator" else train
    data = [noisy, noisy] if options.get("method") == "n2n" else noisy
    with pytest.raises(ValueError, match=message):
        train(data, steps=1, seed=0, init=str(tiny_model_dir), **options)


def test_fine_tuning_from_a_missing_model_names_it(camera_counts, tmp_path):
    noisy, _ = camera_counts
    with pytest.raises(ValueError, match="no-such-model"):
        Denoiser.train(noisy, steps=1, init=str(tmp_path / "no-such-model"))
