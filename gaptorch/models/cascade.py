"""A cascade of networks, each for one pseudo-PSNR slice; every image goes to its slice's member.

GAP sampling and generation call the network on a canvas that grows brighter, so a
cascade hands the canvas from member k to member k + 1 as soon as its pseudo-PSNR passes
bound k, with no change to the sampler. The seed study trained 9 members on 8 dB slices
from -40 to 32 dB (see `gaptorch.cascade.train_cascade`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from gaptorch import models
from gaptorch.models.conditioning import pseudo_psnr_db


class Cascade(nn.Module):
    """Members that each handle one pseudo-PSNR slice, routed per image by its counts.

    Image b goes to member k with `bounds[k-1] < psnr_b <= bounds[k]`: a slice includes
    its upper bound, an empty canvas (-inf dB) goes to member 0. Under tiled inference
    each tile is routed by its own counts. Routing reads which members are needed on the
    host (one sync per call). Tiling sizes its memory probe on an empty input, i.e. on
    member 0: give the members similar sizes, or pass `tile=` for very unequal ones.

    Args:
        members: per member `{"architecture": name, "network": keywords}`; `dims` and
            `in_channels` come from the cascade (a member may repeat them, not differ).
        bounds: slice upper bounds in dB, strictly ascending, one fewer than members.
        in_channels: image channels of every member.
        dims: spatial dimensions of every member.

    Raises:
        ValueError: no members, bounds of the wrong length or order, a member that
            is a cascade or disagrees on dims / in_channels, unknown architectures.
    """

    def __init__(
        self,
        members: list[dict[str, Any]],
        bounds: list[float],
        in_channels: int = 1,
        dims: int = 2,
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("members must name at least one network")
        if len(bounds) != len(members) - 1:
            raise ValueError(
                f"bounds needs {len(members) - 1} values for {len(members)} members, "
                f"got {len(bounds)}"
            )
        if any(not b < c for b, c in zip(bounds, bounds[1:], strict=False)) or not all(
            map(math.isfinite, bounds)
        ):
            raise ValueError(f"bounds must be finite and strictly ascending, got {list(bounds)}")
        self.in_channels, self.dims = in_channels, dims
        self.members = nn.ModuleList(self._member(i, m) for i, m in enumerate(members))
        self.register_buffer("bounds", torch.tensor(bounds, dtype=torch.float32), persistent=False)
        self.multiples = tuple(
            math.lcm(*(m.multiples[d] for m in self.members)) for d in range(dims)
        )

    def _member(self, index: int, member: dict[str, Any]) -> nn.Module:
        if set(member) != {"architecture", "network"}:
            raise ValueError(
                f"members[{index}] needs keys 'architecture' and 'network', got {sorted(member)}"
            )
        if member["architecture"] == "cascade":
            raise ValueError(f"members[{index}] cannot itself be a cascade")
        network = dict(member["network"])
        for key, value in (("dims", self.dims), ("in_channels", self.in_channels)):
            if network.setdefault(key, value) != value:
                raise ValueError(f"members[{index}] has {key}={network[key]}, the cascade {value}")
        return models.build(member["architecture"], **network)

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """The largest receptive field of the members (each output pixel comes from one)."""
        fields = [tuple(m.receptive_field) for m in self.members]
        return tuple(max(f[d] for f in fields) for d in range(self.dims))

    def route(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) counts -> (B,) int64 index of the member for each image."""
        return torch.bucketize(pseudo_psnr_db(counts), self.bounds)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) photon counts -> (B, C, *spatial) logits, each image from its member."""
        route = self.route(counts)
        logits: torch.Tensor | None = None
        for index in route.unique().tolist():
            rows = (route == index).nonzero().flatten()
            part = self.members[index](counts[rows])
            if logits is None:
                logits = part.new_zeros(counts.shape)
            logits = logits.index_copy(0, rows, part)
        return logits if logits is not None else counts.float().new_zeros(counts.shape)
