import json

import numpy as np
import pytest
import skimage.io
import tifffile
from image_files import RESOLUTION, counts, metadata_fields, write_imagej, write_ome, write_plain

from gaptorch.io import Conversion, ImageReader, read_image, write_tiff
from gaptorch.io import write as write_module


def _copy(path, out, dtype=None, record=None, scale=1.0):
    """Write `path`'s blocks (YX planes) unchanged to `out` through write_tiff."""
    with ImageReader(path) as image:
        dtype = np.dtype(dtype or image.dtype)
        blocks = (block.astype(dtype) for block in image.blocks(2))
        write_tiff(
            out,
            blocks,
            shape=image.shape,
            dtype=dtype,
            source=image.metadata,
            axes=image.file_axes,
            record=lambda: record or {"note": "copy"},
            scale=scale,
        )
    return out


@pytest.mark.parametrize("writer", [write_imagej, write_ome, write_plain])
def test_metadata_survives_a_round_trip(tmp_path, writer):
    source = writer(tmp_path / "in.tif")
    out = _copy(source, tmp_path / "out.tif", dtype=np.float32)
    before, after = metadata_fields(source), metadata_fields(out)
    assert after == before
    np.testing.assert_array_equal(tifffile.imread(out), tifffile.imread(source).astype(np.float32))


def test_imagej_fields_are_kept_byte_for_byte_and_the_record_is_in_info(tmp_path):
    source = write_imagej(tmp_path / "in.tif")
    out = _copy(source, tmp_path / "out.tif", record={"model": "tiny", "clipped": 3})
    with tifffile.TiffFile(out) as tiff:
        page = tiff.pages.first
        assert page.tags["XResolution"].value == RESOLUTION[0]
        assert page.tags["ResolutionUnit"].value == 3
        assert tiff.series[0].axes == "TZYX"
        assert "spacing=0.7\nunit=micron\nfinterval=1.5" in page.description
        info = tiff.imagej_metadata["Info"]
    assert info.startswith("acquired by a test\n")
    assert "gaptorch.model = tiny" in info and "gaptorch.clipped = 3" in info


def test_ome_xml_is_kept_with_new_pixel_type_and_a_description(tmp_path):
    source = write_ome(tmp_path / "in.ome.tif")
    out = _copy(source, tmp_path / "out.ome.tif", dtype=np.float32, record={"model": "tiny"})
    with tifffile.TiffFile(out) as tiff:
        xml = tiff.ome_metadata
        assert tiff.series[0].axes == "TCZYX" and tiff.series[0].shape == (2, 2, 3, 40, 48)
    assert 'Type="float"' in xml and "gaptorch.model = tiny" in xml
    assert 'Name="DAPI"' in xml and 'PhysicalSizeZ="0.5"' in xml and 'TimeIncrement="2.5"' in xml
    assert 'PhysicalSizeXUnit="µm"' in xml


def test_display_range_follows_scaled_values(tmp_path):
    source = write_imagej(tmp_path / "in.tif", data=counts((2, 40, 48), dtype=np.uint8), axes="TYX")
    out = _copy(source, tmp_path / "out.tif", dtype=np.uint16, scale=257.0)
    description = tifffile.TiffFile(out).pages.first.description
    assert "min=0\n" in description + "\n" and "max=5140\n" in description + "\n"


def test_bigtiff_in_bigtiff_out_and_above_the_threshold(tmp_path, monkeypatch):
    source = write_plain(tmp_path / "in.tif", bigtiff=True)
    assert metadata_fields(_copy(source, tmp_path / "out.tif"))["bigtiff"]
    small = write_plain(tmp_path / "small.tif")
    monkeypatch.setattr(write_module, "BIGTIFF_THRESHOLD", 1000)
    assert metadata_fields(_copy(small, tmp_path / "big.tif"))["bigtiff"]


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_blocks_read_memory_mapped_or_page_by_page_equal_the_whole(tmp_path, compression):
    data = counts((3, 2, 40, 48))
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, data, compression=compression, metadata={"axes": "TZYX"})
    with ImageReader(path) as image:
        assert image.memory_mapped == (compression is None)
        assert image.axes == "TZYX"
        np.testing.assert_array_equal(np.stack(list(image.blocks(2))), data.reshape(-1, 40, 48))
        np.testing.assert_array_equal(np.stack(list(image.blocks(3))), data)
        np.testing.assert_array_equal(next(image.blocks(1, [5])), data[0, 0, 5])
        assert image.planes("TZYX", count=2).shape == (2, 40, 48)


def test_big_endian_files_read_in_native_order(tmp_path):
    data = counts((2, 40, 48))
    tifffile.imwrite(tmp_path / "be.tif", data, byteorder=">")
    with ImageReader(tmp_path / "be.tif") as image:
        block = next(image.blocks(2))
        assert block.dtype.isnative
        np.testing.assert_array_equal(block, data[0])


def test_rgb_samples_are_our_channel_axis(tmp_path):
    data = counts((2, 20, 30, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", data, photometric="rgb")
    out = _copy(tmp_path / "rgb.tif", tmp_path / "out.tif", dtype=np.float32)
    with tifffile.TiffFile(out) as tiff:
        assert tiff.pages.first.photometric == tifffile.PHOTOMETRIC.RGB
        np.testing.assert_array_equal(tiff.asarray(), data.astype(np.float32))
    assert read_image(tmp_path / "rgb.tif")[1] == "SYXC"


@pytest.mark.parametrize(
    ("name", "image", "axes"),
    [
        ("grey8.png", counts((30, 40), dtype=np.uint8), "YX"),
        ("grey16.png", counts((30, 40), mean=2000, dtype=np.uint16), "YX"),
        ("rgb.png", counts((30, 40, 3), dtype=np.uint8), "YXC"),
        ("rgb.jpg", counts((30, 40, 3), mean=100, dtype=np.uint8), "YXC"),
    ],
)
def test_photos_read_through_scikit_image(tmp_path, name, image, axes):
    skimage.io.imsave(tmp_path / name, image, check_contrast=False)
    array, found = read_image(tmp_path / name)
    assert found == axes and array.dtype == image.dtype and array.shape == image.shape
    if name.endswith(".png"):
        np.testing.assert_array_equal(array, image)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is text, not a TIFF\n", "not a TIFF file"),
        (None, "truncated"),
    ],
)
def test_bad_tiffs_are_refused_on_opening(tmp_path, content, message):
    path = tmp_path / "bad.tif"
    if content is None:
        full = write_plain(tmp_path / "full.tif").read_bytes()
        content = full[: len(full) // 2]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        ImageReader(path)


def test_empty_and_missing_images_are_refused(tmp_path):
    with pytest.warns(UserWarning):
        tifffile.imwrite(tmp_path / "empty.tif", np.zeros((0, 16, 16), np.uint16))
    with pytest.raises(ValueError, match="empty"):
        ImageReader(tmp_path / "empty.tif")
    with pytest.raises(FileNotFoundError):
        ImageReader(tmp_path / "missing.tif")


def test_a_failing_writer_leaves_nothing_behind(tmp_path):
    def blocks():
        yield np.zeros((40, 48), np.float32)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_tiff(
            tmp_path / "out.tif",
            blocks(),
            shape=(3, 40, 48),
            dtype=np.float32,
            axes="QYX",
            record=lambda: {},
        )
    assert list(tmp_path.iterdir()) == []


def test_plain_output_records_in_json_description(tmp_path):
    out = write_tiff(
        tmp_path / "o.tif",
        [np.ones((2, 8, 8), np.float32)],
        shape=(2, 8, 8),
        dtype=np.float32,
        axes="QYX",
        record=lambda: {"model": "m"},
    )
    document = json.loads(tifffile.TiffFile(out).pages.first.description)
    assert document["shape"] == [2, 8, 8] and document["gaptorch"] == {"model": "m"}
    assert oct(out.stat().st_mode & 0o777) != oct(
        0o600
    )  # permissions from the umask, not mkstemp's


@pytest.mark.parametrize(
    ("mode", "dtype", "values", "expected", "clipped"),
    [
        ("float32", np.uint8, [1.25, 300.0], [1.25, 300.0], None),
        ("same", np.uint8, [1.25, 300.0, -2.0], [1, 255, 0], [1, 1]),
        ("uint16", np.uint8, [1.25, 255.0], [321, 65535], [0, 0]),
        ("uint16", np.float32, [1.6, 70000.0], [2, 65535], [0, 1]),
        ("same", np.float32, [1.25], [1.25], [0, 0]),
    ],
)
def test_output_dtype_conversion_and_clip_counts(mode, dtype, values, expected, clipped):
    conversion = Conversion.choose(mode, np.dtype(dtype))
    out = conversion(np.array(values, np.float32))
    np.testing.assert_array_equal(out, np.array(expected, out.dtype))
    described = conversion.describe()
    if clipped is not None:
        assert [described["clipped_low"], described["clipped_high"]] == clipped


def test_undecodable_pages_are_a_value_error_naming_the_file(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "z.tif", counts((2, 16, 16)), compression="zlib")

    def needs_a_codec(self, *args, **kwargs):
        raise KeyError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    with ImageReader(tmp_path / "z.tif") as image:
        monkeypatch.setattr(tifffile.TiffFile, "asarray", needs_a_codec)
        with pytest.raises(ValueError, match=r"z.tif: cannot read pages 0..0 \(<COMPRESSION.LZW"):
            next(image.blocks(2))
