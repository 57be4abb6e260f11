"""Train a cascade: one GAP network per pseudo-PSNR slice, saved and used as one model.

The seed study trained 9 members on 8 dB slices from -40 to 32 dB and compared them with
one network trained on a widening curriculum (`gaptorch.Curriculum`). Each member here is
an ordinary `train_model` run with `psnr_range` set to its slice; the result is a
`Denoiser` or `Generator` whose network is a `gaptorch.models.cascade.Cascade`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from gaptorch.denoiser import Denoiser
from gaptorch.generator import Generator
from gaptorch.model_folder import ModelSpec
from gaptorch.models import architecture_config, build
from gaptorch.train_api import train_model

# The seed study's slices: -40..32 dB in 8 dB steps.
DEFAULT_SLICES: tuple[tuple[float, float], ...] = tuple(
    (float(low), float(low + 8)) for low in range(-40, 32, 8)
)


def _check_slices(slices: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """The slices as (low, high) floats.

    Raises:
        ValueError: no slices, a slice with low >= high, or bounds that do not ascend.
    """
    checked = [(float(low), float(high)) for low, high in slices]
    if not checked:
        raise ValueError("slices must hold at least one (low, high) range")
    if any(low >= high for low, high in checked):
        raise ValueError(f"every slice needs low < high, got {checked}")
    pairs = list(zip(checked, checked[1:], strict=False))
    if any(not (a[0] < b[0] and a[1] < b[1]) for a, b in pairs):
        raise ValueError(f"slices must ascend (both bounds), got {checked}")
    return checked


def _member_options(
    options: dict[str, Any], member: dict[str, Any], psnr_slice: tuple[float, float]
) -> dict[str, Any]:
    """A member's train_model options: the shared ones, its own, and its slice as the range.

    A member with its own `curriculum` trains on that instead of its slice.
    """
    merged = {**options, **member}
    if "curriculum" not in merged:
        merged["psnr_range"] = psnr_slice
    return merged


def train_cascade(
    data: Any,
    *,
    slices: Sequence[Sequence[float]] = DEFAULT_SLICES,
    steps_per_member: int,
    seed: int | None = None,
    kind: Literal["denoiser", "generator"] = "denoiser",
    member_options: Sequence[dict[str, Any]] | None = None,
    **options: Any,
) -> Denoiser | Generator:
    """Train one GAP member per pseudo-PSNR slice and join them into a cascade model.

    Member k trains with `psnr_range=slices[k]` (and seed `seed + k`); at inference an
    image (or tile, or sampling canvas) goes to the member whose slice contains its
    pseudo-PSNR, each slice's upper bound being the boundary to the next.

    Args:
        data: training data, as for `Denoiser.train` / `Generator.train`.
        slices: (low, high) pseudo-PSNR ranges in dB, ascending; default the seed
            study's nine 8 dB slices from -40 to 32 dB.
        steps_per_member: optimiser steps of each member.
        seed: makes the run reproducible.
        kind: "denoiser" or "generator" (GAP, "clean" supervision by default for
            generators, as `Generator.train`).
        member_options: per member, options that override `options` for that member
            (e.g. its own `architecture`, `network`, `lr`, or a `curriculum`, which then
            replaces its slice as the training range: see `gaptorch.Curriculum`).
        **options: `train_model` options shared by all members (`architecture`,
            `network`, `batch_size`, `lr`, ...); `name` names the cascade.

    Returns:
        A Denoiser or Generator holding the cascade; its spec records the slices.

    Raises:
        ValueError: bad slices, member_options of the wrong length, `psnr_range` or
            `curriculum` among the shared options, members that disagree on dims or
            channels, or bad training options.
        TypeError: unknown options.
    """
    checked = _check_slices(slices)
    for key in ("psnr_range", "curriculum"):
        if key in options:
            raise ValueError(
                f"{key} cannot be shared by all members: the slices set each member's range"
            )
    members = (
        [dict(m) for m in member_options] if member_options is not None else [{}] * len(checked)
    )
    if len(members) != len(checked):
        raise ValueError(
            f"member_options needs {len(checked)} dicts (one per slice), got {len(members)}"
        )
    name = options.pop("name", None)
    trained = []
    for index, (psnr_slice, member) in enumerate(zip(checked, members, strict=False)):
        member_seed = None if seed is None else seed + index
        trained.append(
            train_model(
                data,
                kind=kind,
                method="gap",
                steps=steps_per_member,
                seed=member_seed,
                options=_member_options(options, member, psnr_slice),
            )
        )
    first = trained[0][1]
    config = architecture_config(
        "cascade",
        members=[
            {"architecture": spec.architecture, "network": spec.network}
            for _, spec, _, _ in trained
        ],
        bounds=[high for _, high in checked[:-1]],
        in_channels=first.network["in_channels"],
        dims=first.network["dims"],
    )
    cascade = build("cascade", **config)
    for target, (network, _, _, _) in zip(cascade.members, trained, strict=False):
        target.load_state_dict(network.state_dict())
    spec = ModelSpec(
        kind=kind,
        method="gap",
        architecture="cascade",
        network=config,
        training={
            "name": name or f"gap {kind} cascade",
            "sources": first.training.get("sources", []),
            "steps": steps_per_member * len(checked),
            "seconds": round(
                sum(spec.training.get("seconds", 0.0) for _, spec, _, _ in trained), 1
            ),
            "device": first.training.get("device"),
            "patch": first.training.get("patch"),
            "slices": [list(s) for s in checked],
            "members": [spec.training for _, spec, _, _ in trained],
        },
        method_config={
            "slices": [list(s) for s in checked],
            "members": [spec.method_config for _, spec, _, _ in trained],
        },
        calibration=first.calibration,
        intensity=first.intensity,
    )
    device = trained[0][2]
    return (
        Denoiser(cascade, spec, device) if kind == "denoiser" else Generator(cascade, spec, device)
    )
