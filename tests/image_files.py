"""Test images on disk (ImageJ, OME, plain TIFF, photos) and their metadata fields."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import skimage.data
import tifffile

RESOLUTION = ((1000000, 217001), (1000000, 217003))  # stored rationals, compared exactly


def counts(shape, mean=3.0, seed=0, dtype=np.uint16, smooth=False):
    """Poisson counts of a camera crop (or a smooth ramp) with the given mean."""
    rng = np.random.default_rng(seed)
    y, x = shape[-2], shape[-1]
    if smooth:
        plane = np.add.outer(np.linspace(0.1, 1.9, y), np.linspace(0.1, 1.9, x)) / 2
    else:
        camera = skimage.data.camera().astype(np.float64)
        plane = np.tile(camera, (-(-y // 512), -(-x // 512)))[:y, :x]
    plane = plane / plane.mean() * mean
    rate = np.broadcast_to(plane, shape)
    return rng.poisson(rate).astype(dtype)


def write_imagej(path, data=None, axes="TZYX"):
    """An ImageJ hyperstack with Z and T, pixel size, Z spacing, frame interval and Info."""
    data = counts((3, 4, 40, 48)) if data is None else data
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=RESOLUTION,
        resolutionunit="CENTIMETER",
        metadata={
            "axes": axes,
            "spacing": 0.7,
            "unit": "micron",
            "finterval": 1.5,
            "Info": "acquired by a test",
            "Labels": [f"frame {i}" for i in range(int(np.prod(data.shape[:-2])))],
            "min": 0.0,
            "max": 20.0,
        },
    )
    return Path(path)


def write_ome(path, data=None):
    """An OME-TIFF (TCZYX, two named channels, physical sizes, time increment)."""
    data = counts((2, 2, 3, 40, 48)) if data is None else data
    tifffile.imwrite(
        path,
        data,
        ome=True,
        resolution=RESOLUTION,
        resolutionunit="CENTIMETER",
        metadata={
            "axes": "TCZYX",
            "PhysicalSizeX": 0.217,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": 0.217,
            "PhysicalSizeYUnit": "µm",
            "PhysicalSizeZ": 0.5,
            "TimeIncrement": 2.5,
            "Channel": {"Name": ["DAPI", "GFP"]},
        },
    )
    return Path(path)


def write_plain(path, data=None, **options):
    """A plain tifffile TIFF (shaped JSON description) with a resolution."""
    data = counts((5, 40, 48)) if data is None else data
    tifffile.imwrite(
        path,
        data,
        resolution=RESOLUTION,
        resolutionunit="INCH",
        metadata={"axes": "TYX"},
        photometric="minisblack",
        **options,
    )
    return Path(path)


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _ome_fields(xml: str) -> dict:
    root = ET.fromstring(xml.encode())
    fields = {}
    for element in root.iter():
        tag = element.tag.split("}")[-1]
        if tag in ("Pixels", "Channel", "Plane"):
            kept = {
                k: v
                for k, v in element.attrib.items()
                if k not in ("Type", "SignificantBits", "BigEndian")
            }
            fields.setdefault(tag, []).append(kept)
    return fields


def metadata_fields(path) -> dict:
    """The metadata an output must keep, as stored (strings and rationals, not parsed floats)."""
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages.first
        series = tiff.series[0]
        fields = {
            "axes": series.axes,
            "shape": series.shape,
            "XResolution": page.tags["XResolution"].value,
            "YResolution": page.tags["YResolution"].value,
            "ResolutionUnit": page.tags["ResolutionUnit"].value,
            "imagej": tiff.is_imagej,
            "ome": tiff.is_ome,
            "bigtiff": tiff.is_bigtiff,
        }
        if tiff.is_imagej:
            lines = page.description.splitlines()
            fields["imagej_description"] = [
                line for line in lines if not line.startswith(("min=", "max="))
            ]
            found = tiff.imagej_metadata
            fields["Labels"] = found.get("Labels")
        if tiff.is_ome:
            fields["ome"] = _ome_fields(tiff.ome_metadata)
    return fields
