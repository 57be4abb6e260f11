import imageio.v3 as iio
import numpy as np
import pytest

from gaptorch.io.grid import grid_image, save_grid


def test_grid_places_tiles_row_by_row_with_white_gaps_and_blank_cells():
    images = np.stack([np.full((3, 4), value, float) for value in (0.0, 1.0, 2.0)])
    grid = grid_image(images, columns=2, gap=1)
    assert grid.shape == (3 * 2 + 1, 4 * 2 + 1)
    assert (grid[:3, :4] == 0).all() and (grid[:3, 5:] == 128).all() and (grid[4:, :4] == 255).all()
    assert (grid[:, 4] == 255).all() and (grid[3, :] == 255).all()
    assert (grid[4:, 5:] == 255).all()  # the empty fourth cell


def test_grid_keeps_colour_and_defaults_to_a_square_layout():
    grid = grid_image(np.random.default_rng(0).uniform(size=(5, 6, 6, 3)))
    assert grid.shape == (2 * 8 - 2, 3 * 8 - 2, 3) and grid.dtype == np.uint8


@pytest.mark.parametrize("shape", [(0, 4, 4), (4, 4)])
def test_grid_refuses_what_is_not_a_stack_of_images(shape):
    with pytest.raises(ValueError, match="images must be"):
        grid_image(np.zeros(shape))


def test_save_grid_writes_a_png_and_leaves_no_partial_file(tmp_path):
    path = save_grid(tmp_path / "grid.png", np.random.default_rng(1).uniform(size=(4, 5, 5)))
    assert iio.imread(path).shape == (12, 12)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
