"""Argument checks shared by the kernels' public functions (cheap, no host sync)."""

from __future__ import annotations

import torch


def check_batched(name: str, tensor: torch.Tensor, *, integer: bool | None = None) -> None:
    """Check that `tensor` is (B, C, *spatial) with at least one spatial dim.

    Raises:
        TypeError: when `tensor` is not a tensor, or its dtype kind is wrong.
        ValueError: when it has fewer than 3 dims or a zero-sized dim.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.ndim < 3:
        raise ValueError(f"{name} must be (B, C, *spatial), got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(tensor.shape)}")
    is_int = not (tensor.dtype.is_floating_point or tensor.dtype.is_complex)
    if integer is True and (not is_int or tensor.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor, got {tensor.dtype}")
    if integer is False and not tensor.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {tensor.dtype}")


def per_image(
    name: str, value: float | torch.Tensor, batch: int, like: torch.Tensor
) -> torch.Tensor:
    """Turn a scalar or a (B,) tensor into a float32 (B,) tensor on `like`'s device.

    Raises:
        TypeError: when `value` is neither a real number nor a tensor.
        ValueError: when a tensor `value` is not (B,) or sits on another device.
    """
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            value = value.reshape(1).expand(batch)
        if value.shape != (batch,):
            raise ValueError(
                f"{name} must be a float or a ({batch},) tensor, got {tuple(value.shape)}"
            )
        if value.device != like.device:
            raise ValueError(f"{name} must be on {like.device}, got {value.device}")
        return value.to(torch.float32)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    return torch.full((batch,), float(value), dtype=torch.float32, device=like.device)


def broadcast_shape(batch_values: torch.Tensor, ndim: int) -> torch.Tensor:
    """View a (B,) tensor as (B, 1, ..., 1) for broadcasting against an ndim tensor."""
    return batch_values.view(-1, *([1] * (ndim - 1)))
