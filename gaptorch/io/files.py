"""Which files a command works on, and where each one's outputs go.

Inputs are files, folders (searched recursively, hidden entries skipped) and glob
patterns. Each file remembers its path below the folder or glob root it was found in,
so outputs mirror the input folder structure under the output folder.
"""

from __future__ import annotations

import fnmatch
import glob
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gaptorch.io.read import PHOTO_SUFFIXES, TIFF_SUFFIXES, ImageReader, is_tiff

IMAGE_SUFFIXES = TIFF_SUFFIXES | PHOTO_SUFFIXES
_OME_SUFFIXES = (".ome.tif", ".ome.tiff", ".ome.btf", ".ome.tf2", ".ome.tf8")


@dataclass(frozen=True)
class FileJob:
    """An input file and its path relative to the folder it was found in."""

    source: Path
    relative: Path


def _wanted(name: str, patterns: Sequence[str]) -> bool:
    if name.startswith("."):
        return False
    if patterns:
        return any(fnmatch.fnmatch(name.lower(), pattern.lower()) for pattern in patterns)
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _walk(root: Path, patterns: Sequence[str]) -> list[Path]:
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [Path(folder) / name for name in sorted(names) if _wanted(name, patterns)]
    return found


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    fixed = [part for part in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
    return Path(*fixed) if fixed else Path(".")


def find_images(inputs: Sequence[str | os.PathLike], patterns: Sequence[str] = ()) -> list[FileJob]:
    """Image files named by `inputs` (files, folders, globs), each once, in order.

    Folders are searched recursively for `patterns` (file-name globs such as "*.tif";
    default: every TIFF, PNG and JPEG); files named directly are taken whatever their name.

    Raises:
        FileNotFoundError: an input that does not exist or a glob that matches nothing.
        ValueError: a folder without matching files.
    """
    jobs: list[FileJob] = []
    seen: set[Path] = set()
    for item in inputs:
        text = os.fspath(item)
        found: list[FileJob] = []
        if glob.has_magic(text) and not Path(text).exists():
            root = _glob_root(text)
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            if not matches:
                raise FileNotFoundError(f"{text}: no files match")
            for match in matches:
                files = (
                    _walk(match, patterns)
                    if match.is_dir()
                    else [match]
                    if _wanted(match.name, patterns)
                    else []
                )
                found += [FileJob(f, f.relative_to(root)) for f in files]
            if not found:
                raise ValueError(f"{text}: matches no image files")
        elif Path(text).is_dir():
            root = Path(text)
            found = [FileJob(f, f.relative_to(root)) for f in _walk(root, patterns)]
            if not found:
                wanted = ", ".join(patterns) if patterns else "TIFF, PNG or JPEG"
                raise ValueError(f"{text}: no {wanted} files in this folder")
        elif Path(text).exists():
            found = [FileJob(Path(text), Path(Path(text).name))]
        else:
            raise FileNotFoundError(f"{text}: no such file or directory")
        for job in found:
            key = job.source.resolve()
            if key not in seen:
                seen.add(key)
                jobs.append(job)
    return jobs


def split_name(name: str) -> tuple[str, str]:
    """(stem, extension) with OME-TIFF's double extension kept together."""
    lower = name.lower()
    for ending in _OME_SUFFIXES:
        if lower.endswith(ending):
            return name[: -len(ending)], name[-len(ending) :]
    stem, extension = os.path.splitext(name)
    return stem, extension


def output_path(
    job: FileJob, out_dir: str | os.PathLike, suffix: str = "", extension: str | None = None
) -> Path:
    """Where the output of `job` goes: the mirrored path with `suffix` before the extension.

    Photos become TIFF (".tif"); `extension` forces one.
    """
    stem, ending = split_name(job.relative.name)
    if extension is None:
        extension = ending if is_tiff(job.relative) else ".tif"
    return Path(out_dir) / job.relative.parent / f"{stem}{suffix}{extension}"


def plan_outputs(
    jobs: Sequence[FileJob], out_dir: str | os.PathLike, names: Sequence[tuple[str, str | None]]
) -> list[tuple[FileJob, tuple[Path, ...]]]:
    """The outputs of each job, one per (suffix, extension) in `names`, checked for safety.

    Inputs that are outputs of another job (left by an earlier run into the same folder)
    are dropped, so rerunning a command does not process its own results.

    Raises:
        ValueError: an output that would overwrite an input, or two inputs with the
            same output.
    """
    planned = [(job, tuple(output_path(job, out_dir, s, e) for s, e in names)) for job in jobs]
    producer = {out.resolve(): job.source.resolve() for job, outputs in planned for out in outputs}
    planned = [
        (job, outputs)
        for job, outputs in planned
        if producer.get(job.source.resolve(), job.source.resolve()) == job.source.resolve()
    ]
    sources = {job.source.resolve(): job.source for job, _ in planned}
    inodes = {_inode(source): source for source in sources.values()}
    owner: dict[Path, Path] = {}
    for job, outputs in planned:
        for out in outputs:
            key = out.resolve()
            same = sources.get(key) or (inodes.get(_inode(out)) if out.exists() else None)
            if same is not None:
                raise ValueError(
                    f"{out} would overwrite the input {same}; "
                    "choose another output folder or suffix"
                )
            if key in owner:
                raise ValueError(
                    f"{owner[key]} and {job.source} would both write {out}; rename one of them"
                )
            owner[key] = job.source
    return planned


def _inode(path: Path) -> tuple[int, int]:
    """(device, inode) of a file: the same file under any name or link."""
    status = path.stat()
    return status.st_dev, status.st_ino


def count_pixels(paths: Sequence[str | os.PathLike]) -> int:
    """Pixels (voxels) in the images at `paths`, channels not counted, from their headers."""
    total = 0
    for path in paths:
        with ImageReader(path) as image:
            axes = image.axes or ""
            channels = image.shape[axes.index("C")] if "C" in axes else 1
            total += math.prod(image.shape) // channels
    return total
