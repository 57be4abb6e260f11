import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaptorch.kernels import normalize_mean, normalize_percentile, percentiles

Q = [0.0, 1.0, 12.5, 50.0, 99.8, 100.0]
DTYPES = [
    torch.uint8,
    torch.int16,
    torch.uint16,
    torch.int32,
    torch.int64,
    torch.float32,
    torch.float64,
]


def numpy_percentiles(images: torch.Tensor, q) -> np.ndarray:
    return np.stack([np.percentile(image.numpy().astype(np.float64), q) for image in images])


def sample_images(shape, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rates = torch.rand(shape, generator=generator) * 200
    if dtype.is_floating_point:
        return (rates * 3.7 - 50).to(dtype)
    return torch.poisson(rates, generator=generator).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_percentiles_match_numpy_linear(dtype):
    images = sample_images((3, 2, 17, 11), dtype)
    got = percentiles(images, Q, backend="torch").numpy()
    np.testing.assert_allclose(got, numpy_percentiles(images, Q), rtol=1e-12, atol=0)


def test_percentiles_work_past_the_torch_quantile_limit():
    images = torch.arange(2**24 + 5, dtype=torch.float32).flip(0).view(1, 1, -1)
    got = percentiles(images, [0.0, 50.0, 100.0], backend="torch")
    n = images.numel()
    np.testing.assert_allclose(got.numpy()[0], [0.0, (n - 1) / 2, n - 1], rtol=1e-12)


def test_normalize_mean_gives_mean_one_and_zeros_for_empty_images():
    images = sample_images((3, 1, 9, 7), torch.int64)
    images[1] = 0
    out = normalize_mean(images)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(
        out[0].double(), images[0] / images[0].double().mean(), rtol=1e-6, atol=1e-6
    )


def test_normalize_percentile_maps_the_levels_to_zero_and_one():
    images = sample_images((2, 1, 50, 40), torch.float32)
    out = normalize_percentile(images, 1.0, 99.8)
    levels = numpy_percentiles(images, [1.0, 99.8])
    expected = (images.double() - torch.tensor(levels[:, :1, None, None])) / torch.tensor(
        levels[:, 1:, None, None] - levels[:, :1, None, None]
    )
    torch.testing.assert_close(out, expected.float())


def test_constant_images_normalise_without_nan():
    images = torch.full((2, 1, 4, 4), 7, dtype=torch.int32)
    assert torch.count_nonzero(normalize_percentile(images)) == 0
    torch.testing.assert_close(normalize_mean(images), torch.ones(2, 1, 4, 4))


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: percentiles(torch.ones(1, 1, 3), [101.0]), ValueError),
        (lambda: percentiles(torch.ones(1, 1, 3), []), ValueError),
        (lambda: normalize_percentile(torch.ones(1, 1, 3), 50.0, 50.0), ValueError),
        (lambda: normalize_mean(torch.ones(1, 1, 3, dtype=torch.bool)), TypeError),
        (lambda: normalize_mean(torch.ones(3, 3)), ValueError),
    ],
)
def test_bad_arguments_raise(call, error):
    with pytest.raises(error):
        call()


@pytest.mark.triton
@pytest.mark.parametrize("dtype", DTYPES)
def test_triton_percentiles_and_normalisation_match_numpy_and_the_reference(dtype, triton_device):
    images = sample_images((3, 2, 17, 11), dtype)
    got = percentiles(images.to(triton_device), Q, backend="triton").cpu().numpy()
    np.testing.assert_allclose(got, numpy_percentiles(images, Q), rtol=1e-12, atol=0)
    for normalize in (normalize_mean, normalize_percentile):
        torch.testing.assert_close(
            normalize(images.to(triton_device), backend="triton").cpu(),
            normalize(images, backend="torch"),
        )


@pytest.mark.triton
@settings(max_examples=10, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=3, max_size=5),
    high=st.sampled_from([0, 1, 40, 70000]),
    q=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=4),
    seed=st.integers(0, 1000),
)
def test_triton_histogram_percentiles_are_exact_for_any_shape(shape, high, q, seed, triton_device):
    images = torch.randint(0, high + 1, tuple(shape), generator=torch.Generator().manual_seed(seed))
    got = percentiles(images.to(triton_device), q, backend="triton").cpu().numpy()
    np.testing.assert_allclose(got, numpy_percentiles(images, q), rtol=1e-12, atol=0)
