"""Reading and writing images: TIFF (with axes) through tifffile, photos through scikit-image."""

from gaptorch.io.read import read_image

__all__ = ["read_image"]
