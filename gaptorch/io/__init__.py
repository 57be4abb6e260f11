"""Reading and writing images: TIFF via tifffile (axes, metadata, streaming), photos via skimage."""

from gaptorch.io.convert import OUTPUT_DTYPES, Conversion
from gaptorch.io.files import FileJob, find_images, output_path, plan_outputs
from gaptorch.io.metadata import TiffMetadata
from gaptorch.io.read import ImageReader, read_image
from gaptorch.io.write import write_tiff

__all__ = [
    "OUTPUT_DTYPES",
    "Conversion",
    "FileJob",
    "ImageReader",
    "TiffMetadata",
    "find_images",
    "output_path",
    "plan_outputs",
    "read_image",
    "write_tiff",
]
