"""Everything worth knowing about an image file before denoising it (`gap info`)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from gaptorch.calibration import estimate_calibration, is_counts
from gaptorch.io.metadata import TiffMetadata
from gaptorch.io.read import ImageReader

_RESOLUTION_UNITS = {1: "", 2: "inch", 3: "cm"}


def _pixel_size(
    metadata: TiffMetadata | None, imagej_description: dict[str, str]
) -> dict[str, Any]:
    """Pixel size from the resolution tags (ImageJ's unit wins), Z spacing, frame interval."""
    size: dict[str, Any] = {}
    if metadata is None:
        return size
    if metadata.resolution is not None:
        (xn, xd), (yn, yd) = metadata.resolution
        unit = imagej_description.get("unit") or _RESOLUTION_UNITS.get(
            metadata.resolution_unit or 1, ""
        )
        if xn and yn and (unit or (xn, xd, yn, yd) != (1, 1, 1, 1)):
            size.update(x=xd / xn, y=yd / yn, unit=unit)
    for key, name in (("spacing", "z"), ("finterval", "frame_interval")):
        if key in imagej_description:
            size[name] = float(imagej_description[key])
    return size


def _ome_summary(xml: str) -> dict[str, Any]:
    """Dimension order, physical sizes and channel names of the first OME image."""
    root = ET.fromstring(xml.encode())
    pixels = next((e for e in root.iter() if e.tag.endswith("}Pixels") or e.tag == "Pixels"), None)
    if pixels is None:
        return {}
    keep = (
        "DimensionOrder",
        "Type",
        "PhysicalSizeX",
        "PhysicalSizeXUnit",
        "PhysicalSizeY",
        "PhysicalSizeYUnit",
        "PhysicalSizeZ",
        "PhysicalSizeZUnit",
        "TimeIncrement",
        "TimeIncrementUnit",
    )
    summary: dict[str, Any] = {key: pixels.get(key) for key in keep if pixels.get(key) is not None}
    channels = [e.get("Name", "") for e in pixels if e.tag.endswith("Channel")]
    if channels:
        summary["channels"] = channels
    return summary


def image_info(
    path: str | os.PathLike, axes: str | None = None, planes: int = 16
) -> dict[str, Any]:
    """Format, shape, axes, metadata, value range and an estimated gain/offset of `path`.

    Values and the calibration come from up to `planes` evenly spaced planes, so huge
    files stay quick.

    Raises:
        FileNotFoundError, ValueError: as `ImageReader`.
    """
    with ImageReader(path, axes) as image:
        metadata = image.metadata
        info: dict[str, Any] = {
            "path": str(image.path),
            "format": image.kind,
            "bigtiff": bool(metadata and metadata.bigtiff),
            "memory_mapped": image.memory_mapped,
            "file_bytes": image.path.stat().st_size,
            "shape": list(image.shape),
            "dtype": image.dtype.name,
            "axes": image.axes,
            "file_axes": image.file_axes,
        }
        description: dict[str, str] = {}
        if metadata is not None and metadata.kind == "imagej" and metadata.description:
            description = dict(
                line.split("=", 1) for line in metadata.description.splitlines() if "=" in line
            )
            info["imagej"] = description
        info["pixel_size"] = _pixel_size(metadata, description)
        if metadata is not None and metadata.kind == "ome" and metadata.description:
            ome = info["ome"] = _ome_summary(metadata.description)
            for axis in "XYZ":
                if f"PhysicalSize{axis}" in ome:
                    info["pixel_size"][axis.lower()] = float(ome[f"PhysicalSize{axis}"])
                    info["pixel_size"]["unit"] = ome.get(f"PhysicalSize{axis}Unit", "µm")
        if image.axes is None:
            info["values"] = {"error": "axes unknown; pass axes to inspect values"}
            return info
        sample = image.planes(image.axes, planes)
        finite = np.isfinite(sample).all() if sample.dtype.kind == "f" else True
        info["values"] = {
            "planes_checked": int(sample.shape[0]),
            "min": float(np.nanmin(sample)),
            "max": float(np.nanmax(sample)),
            "mean": float(np.nanmean(sample)),
            "finite": bool(finite),
            "photon_counts": bool(finite and is_counts(sample)),
        }
        try:
            fit = estimate_calibration(sample)
            info["calibration"] = {
                "gain": fit.calibration.gain,
                "offset": fit.calibration.offset,
                "bins": fit.bins,
            }
        except ValueError as error:
            info["calibration"] = {"error": str(error)}
    return info
