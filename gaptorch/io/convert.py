"""From float32 results to the output pixel type, counting what was clipped.

- "float32" (default): the values as computed, nothing rounded or clipped.
- "same": the input's type. Integer types: rounded and clipped to the type's range
  (values stay in the input's units); float types: cast.
- "uint16": rounded and clipped to 0..65535 after scaling by 257 for uint8 inputs (0..255
  becomes 0..65535, keeping 8 more bits of the estimate) and by 1 otherwise.

What was done (scale, clip range, pixels clipped low and high) goes into the output's
metadata through `describe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

OutputDtype = Literal["float32", "uint16", "same"]
OUTPUT_DTYPES: tuple[str, ...] = ("float32", "uint16", "same")


@dataclass
class Conversion:
    """A float32 -> `dtype` conversion; integers: `round(value * scale)` clipped to [low, high]."""

    dtype: np.dtype
    scale: float = 1.0
    low: float | None = None
    high: float | None = None
    clipped: list[int] = field(default_factory=lambda: [0, 0])

    @classmethod
    def choose(cls, mode: str, input_dtype: np.dtype) -> Conversion:
        """The conversion for `--output-dtype mode` and an input of `input_dtype`.

        Raises:
            ValueError: an unknown mode.
        """
        input_dtype = np.dtype(input_dtype)
        if mode == "float32":
            return cls(np.dtype(np.float32))
        if mode == "uint16":
            return cls(np.dtype(np.uint16), 257.0 if input_dtype == np.uint8 else 1.0, 0, 65535)
        if mode == "same":
            if input_dtype.kind == "b":
                return cls(np.dtype(np.uint8), 1.0, 0, 1)
            if input_dtype.kind in "ui":
                info = np.iinfo(input_dtype)
                return cls(input_dtype, 1.0, float(info.min), float(info.max))
            info = np.finfo(input_dtype)
            return cls(input_dtype, 1.0, float(info.min), float(info.max))
        raise ValueError(f"output dtype must be one of {', '.join(OUTPUT_DTYPES)}, got {mode!r}")

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """`values` in the output type; clipped pixels are counted."""
        if self.low is None or self.high is None:
            return values.astype(self.dtype, copy=False)
        scaled = values * np.float32(self.scale) if self.scale != 1 else values
        if self.dtype.kind in "ui":
            scaled = np.rint(scaled)
        below, above = scaled < self.low, scaled > self.high
        self.clipped[0] += int(below.sum())
        self.clipped[1] += int(above.sum())
        return np.clip(scaled, self.low, self.high).astype(self.dtype)

    def describe(self) -> dict[str, Any]:
        """The conversion for the output's metadata."""
        if self.low is None:
            return {"dtype": self.dtype.name, "scale": 1.0, "clipped": "none"}
        return {
            "dtype": self.dtype.name,
            "rule": "round(value * scale) clipped" if self.dtype.kind in "ui" else "cast, clipped",
            "scale": self.scale,
            "range": [self.low, self.high],
            "clipped_low": self.clipped[0],
            "clipped_high": self.clipped[1],
        }
