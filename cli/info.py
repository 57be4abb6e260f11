"""`gap info FILE`: what gaptorch reads from an image file."""

from __future__ import annotations

import json
from typing import Any

import click

from gaptorch.cli.options import check_axes, debug_option
from gaptorch.io.info import image_info


def _lines(info: dict[str, Any]) -> list[str]:
    big = ", BigTIFF" if info["bigtiff"] else ""
    reading = "memory-mapped" if info["memory_mapped"] else "read page by page"
    shape = " x ".join(map(str, info["shape"]))
    lines = [
        f"file: {info['path']} ({info['format']}{big}, "
        f"{info['file_bytes'] / 1e6:.1f} MB, {reading})",
        f"shape: {shape}  dtype: {info['dtype']}  axes: {info['axes'] or '?'} "
        f"(file: {info['file_axes']})",
    ]
    size = info.get("pixel_size") or {}
    if size:
        parts = (
            [f"{size['x']:.6g} x {size.get('y', size['x']):.6g} {size.get('unit', '')}".rstrip()]
            if "x" in size
            else []
        )
        parts += [f"Z spacing {size['z']:g}"] if "z" in size else []
        parts += [f"frame interval {size['frame_interval']:g}"] if "frame_interval" in size else []
        lines.append("pixel size: " + "; ".join(parts))
    if "imagej" in info:
        lines.append("ImageJ: " + " ".join(f"{k}={v}" for k, v in info["imagej"].items()))
    if "ome" in info:
        lines.append("OME: " + " ".join(f"{k}={v}" for k, v in info["ome"].items()))
    values = info.get("values", {})
    if "error" in values:
        lines.append(f"values: {values['error']}")
    elif values:
        counts = (
            "yes"
            if values["photon_counts"]
            else "no"
            if values["finite"]
            else "no (NaN or infinite values)"
        )
        lines.append(
            f"values: min {values['min']:.6g}, max {values['max']:.6g}, mean {values['mean']:.6g} "
            f"({values['planes_checked']} planes checked); photon counts: {counts}"
        )
    calibration = info.get("calibration")
    if calibration is not None:
        lines.append(
            f"estimated calibration: cannot estimate ({calibration['error']})"
            if "error" in calibration
            else f"estimated calibration: gain {calibration['gain']:.4g}, "
            f"offset {calibration['offset']:.4g} "
            f"(variance-mean fit on {calibration['bins']} intensity bins)"
        )
    return lines


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--axes", callback=check_axes, metavar="AXES", help="Axes to assume instead of the file's."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@debug_option
def info(file: str, axes: str | None, as_json: bool) -> None:
    """Show FILE's format, shape, axes, metadata, value range and estimated gain/offset.

    \b
    Example:
      gap info stack.tif
    """
    details = image_info(file, axes)
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    for line in _lines(details):
        click.echo(line)
