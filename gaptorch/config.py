"""Frozen run configs built from keyword options, rejecting unknown keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def field_names(cls: type) -> set[str]:
    """Names of a dataclass's fields."""
    return {f.name for f in dataclasses.fields(cls)}


def build_config(cls: type[T], options: Mapping[str, Any], what: str) -> T:
    """Make `cls(**options)`, naming the valid keys when one is unknown.

    Raises:
        TypeError: an unknown key.
    """
    unknown = sorted(set(options) - field_names(cls))
    if unknown:
        valid = ", ".join(sorted(field_names(cls) - {"version"}))
        raise TypeError(f"unknown {what} option(s): {', '.join(unknown)}; valid: {valid}")
    return cls(**options)


def take(options: dict[str, Any], cls: type) -> dict[str, Any]:
    """Pop the keys of `options` that are fields of `cls`, and return them."""
    return {name: options.pop(name) for name in list(options) if name in field_names(cls)}


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a (nested) dataclass; tuples become lists."""
    return dataclasses.asdict(config)
