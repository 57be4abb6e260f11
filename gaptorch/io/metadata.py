"""TIFF metadata read from an input and written back on an output of the same shape.

Kept: the ImageJ description (hyperstack axes, `spacing`, `unit`, `finterval`, display
range, ...) byte for byte and the ImageJ tags (Info, Labels, Ranges, LUTs, ROIs, ...);
the OME-XML with only what must change for the new file (pixel type, UUID, TiffData);
XResolution/YResolution/ResolutionUnit as stored rationals; photometric, planar layout,
extra samples, and a few descriptive string tags. What gaptorch did (a `record`: model,
calibration, dtype conversion) is added to ImageJ's Info, the OME Image Description, or
the JSON description of plain TIFFs.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import tifffile

IMAGEJ_TAG_KEYS = ("Info", "Labels", "Ranges", "LUTs", "Plot", "ROI", "Overlays", "Properties")
# DocumentName, Make, Model, DateTime, Artist, HostComputer, Copyright.
STRING_TAGS = (269, 271, 272, 306, 315, 316, 33432)
OME_TYPES = {
    "bool": "bit",
    "uint8": "uint8",
    "int8": "int8",
    "uint16": "uint16",
    "int16": "int16",
    "uint32": "uint32",
    "int32": "int32",
    "float32": "float",
    "float64": "double",
}


@dataclass(frozen=True)
class TiffMetadata:
    """What an input TIFF says beyond its pixels.

    Args:
        kind: "imagej", "ome" or "tiff" (plain, including tifffile's shaped JSON).
        axes: tifffile's axes of the image series (e.g. "TZCYX", "YXS", "QYX").
        page_shape: shape of one TIFF page (e.g. (Y, X) or (Y, X, 3)).
        bigtiff: the file is a BigTIFF.
        photometric, planarconfig, extrasamples: how samples are stored.
        resolution: (XResolution, YResolution) as stored rationals, or None.
        resolution_unit: the ResolutionUnit value, or None.
        description: the first page's ImageDescription (ImageJ text, OME-XML, JSON).
        imagej: ImageJ's tag metadata (Info, Labels, Ranges, LUTs, ...).
        string_tags: other descriptive string tags by code.
    """

    kind: Literal["imagej", "ome", "tiff"]
    axes: str
    page_shape: tuple[int, ...]
    bigtiff: bool = False
    photometric: int = 1
    planarconfig: int | None = None
    extrasamples: tuple[int, ...] = ()
    resolution: tuple[tuple[int, int], tuple[int, int]] | None = None
    resolution_unit: int | None = None
    description: str | None = None
    imagej: dict[str, Any] | None = None
    string_tags: tuple[tuple[int, str], ...] = ()


def _tag(page: tifffile.TiffPage, code: int) -> Any:
    tag = page.tags.get(code)
    return None if tag is None else tag.value


def read_tiff_metadata(tiff: tifffile.TiffFile, series: tifffile.TiffPageSeries) -> TiffMetadata:
    """Collect the metadata of `series` in `tiff` that an output should keep.

    Raises:
        ValueError: a multi-file OME-TIFF (its other files would be lost).
    """
    page = series.keyframe
    first = tiff.pages.first
    kind = "imagej" if tiff.is_imagej else "ome" if tiff.is_ome else "tiff"
    if kind == "ome" and getattr(series, "is_multifile", False):
        raise ValueError(
            "multi-file OME-TIFF datasets are not supported; convert to one file first"
        )
    resolution = None
    if 282 in first.tags and 283 in first.tags:
        resolution = (tuple(_tag(first, 282)), tuple(_tag(first, 283)))
    unit = _tag(first, 296)
    imagej = None
    if kind == "imagej":
        found = tiff.imagej_metadata or {}
        imagej = {key: found[key] for key in IMAGEJ_TAG_KEYS if key in found}
    strings = tuple(
        (code, str(_tag(first, code))) for code in STRING_TAGS if isinstance(_tag(first, code), str)
    )
    return TiffMetadata(
        kind=kind,
        axes=series.axes,
        page_shape=tuple(int(s) for s in page.shape),
        bigtiff=tiff.is_bigtiff,
        photometric=int(page.photometric),
        planarconfig=int(page.planarconfig) if page.samplesperpixel > 1 else None,
        extrasamples=tuple(int(e) for e in page.extrasamples),
        resolution=resolution,  # type: ignore[arg-type]
        resolution_unit=None if unit is None else int(unit),
        description=tiff.ome_metadata if kind == "ome" else first.description or None,
        imagej=imagej,
        string_tags=strings,
    )


def record_text(record: dict[str, Any]) -> str:
    """`record` as "gaptorch.key = value" lines (ImageJ's Info style)."""
    return "\n".join(f"gaptorch.{key} = {_plain(value)}" for key, value in record.items())


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _scale_display_range(description: str, scale: float) -> str:
    """Scale ImageJ's min=/max= lines by `scale` (when the output values were scaled)."""
    if scale == 1:
        return description

    def scaled(match: re.Match[str]) -> str:
        return f"{match.group(1)}={float(match.group(2)) * scale:g}"

    return re.sub(r"^(min|max)=([-+0-9.eE]+)$", scaled, description, flags=re.MULTILINE)


def _patch_ome(xml: str, dtype: np.dtype, pages: int, text: str) -> str:
    """The input's OME-XML for an output with `dtype`, its own UUID and one TiffData block."""
    for prefix, uri in [
        ns for _, ns in ET.iterparse(io.BytesIO(xml.encode()), events=("start-ns",))
    ]:
        ET.register_namespace(prefix, uri)
    root = ET.fromstring(xml.encode())
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""

    def name(tag: str) -> str:
        return f"{{{namespace}}}{tag}" if namespace else tag

    root.set("UUID", f"urn:uuid:{uuid.uuid4()}")
    image = root.find(name("Image"))
    pixels = image.find(name("Pixels")) if image is not None else None
    if image is None or pixels is None:
        raise ValueError("the OME-XML has no Image/Pixels element")
    pixels.set("Type", OME_TYPES[np.dtype(dtype).name])
    pixels.attrib.pop("SignificantBits", None)
    if "BigEndian" in pixels.attrib:
        pixels.set("BigEndian", "false")
    for element in pixels.findall(name("TiffData")):
        pixels.remove(element)
    after_channels = max(
        (i + 1 for i, e in enumerate(pixels) if e.tag == name("Channel")), default=0
    )
    pixels.insert(
        after_channels, ET.Element(name("TiffData"), {"IFD": "0", "PlaneCount": str(pages)})
    )
    described = image.find(name("Description"))
    if described is None:
        described = ET.Element(name("Description"))
        before = [name("AcquisitionDate"), name("ExperimenterRef")]
        image.insert(sum(1 for e in image if e.tag in before), described)
        described.text = text
    else:
        described.text = f"{described.text}\n{text}" if described.text else text
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def output_description(
    source: TiffMetadata | None,
    *,
    shape: tuple[int, ...],
    axes: str,
    dtype: np.dtype,
    scale: float,
    record: dict[str, Any],
) -> tuple[bytes, list[tuple[Any, ...]]]:
    """ImageDescription (UTF-8) and extra tags for an output of `shape` and `dtype`.

    Args:
        source: the input's metadata (None for photos and arrays).
        shape: the output's shape.
        axes: the output's tifffile axes (for plain TIFFs).
        dtype: the output's pixel type.
        scale: factor applied to the values (scales ImageJ's display range).
        record: what gaptorch did, added to Info / Description / JSON.
    """
    text = record_text(record)
    extratags = [
        (code, "s", 0, value, True) for code, value in (source.string_tags if source else ())
    ]
    if source is not None and source.kind == "imagej" and source.description:
        items = dict(source.imagej or {})
        items["Info"] = f"{items['Info'].rstrip()}\n{text}" if items.get("Info") else text
        ranges = items.get("Ranges")
        if ranges is not None and scale != 1:
            items["Ranges"] = tuple(float(r) * scale for r in ranges)
        extratags += list(tifffile.imagej_metadata_tag(items, "<"))
        return _scale_display_range(source.description, scale).encode(), extratags
    if source is not None and source.kind == "ome" and source.description:
        pages = int(np.prod(shape) // np.prod(source.page_shape))
        return _patch_ome(source.description, dtype, pages, text).encode("utf-8"), extratags
    document: dict[str, Any] = {"shape": list(shape), "axes": axes}
    if source is not None and source.description:
        try:
            kept = json.loads(source.description)
        except ValueError:
            kept = {"description": source.description}
        if isinstance(kept, dict):
            document.update(
                {k: v for k, v in kept.items() if k not in ("shape", "axes", "gaptorch")}
            )
    document["gaptorch"] = record
    return json.dumps(document).encode(), extratags
