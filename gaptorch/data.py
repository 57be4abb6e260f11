"""Training patches: random crops and dihedral augmentation, nothing else.

Photon splitting happens later on the training device for whole batches
(`gaptorch.kernels.binomial_split`); this module only chooses pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def dihedral(x: torch.Tensor, index: int) -> torch.Tensor:
    """Apply transform `index` of the dihedral group on the last two axes (YX).

    0..3 rotate by 90° steps, 4..7 transpose first; for 3D data 8..15 also flip Z
    (axis -3), which keeps Z a separate axis.
    """
    if index >= 8:
        x = x.flip(-3)
        index -= 8
    if index >= 4:
        x = x.transpose(-1, -2)
        index -= 4
    return torch.rot90(x, index, dims=(-2, -1))


def transform_count(dims: int, square: bool) -> int:
    """Number of augmentations available: 8 (2D) or 16 (3D) for square YX, else flips only."""
    if not square:
        return 1
    return 8 if dims == 2 else 16


class PatchSampler:
    """Draw random (C, *patch) crops from a list of (C, *spatial) images.

    Images are chosen with probability proportional to their number of crop positions;
    each crop gets a random dihedral transform when `augment` is on and the patch is
    square in YX. Images smaller than the patch shrink the patch (to the smallest image).

    Raises:
        ValueError: no images, images of different channel counts or ndims, or a patch
            with the wrong number of dims.
    """

    def __init__(
        self, images: Sequence[torch.Tensor], patch_size: Sequence[int], *, augment: bool = True
    ) -> None:
        if not images:
            raise ValueError("training needs at least one image")
        first = images[0]
        for image in images:
            if image.ndim != first.ndim or image.shape[0] != first.shape[0]:
                raise ValueError(
                    "all training images need the same channels and dims, got "
                    f"{tuple(first.shape)} "
                    f"and {tuple(image.shape)}"
                )
        dims = first.ndim - 1
        if len(patch_size) != dims:
            raise ValueError(
                f"patch_size needs {dims} values for {dims}D images, got {tuple(patch_size)}"
            )
        self.images = list(images)
        self.patch = tuple(
            min(p, min(image.shape[1 + d] for image in self.images))
            for d, p in enumerate(patch_size)
        )
        self.dims = dims
        positions = torch.tensor(
            [
                float(
                    torch.tensor(
                        [s - p + 1 for s, p in zip(image.shape[1:], self.patch, strict=True)]
                    ).prod()
                )
                for image in self.images
            ]
        )
        self.weights = positions / positions.sum()
        self.transforms = transform_count(dims, self.patch[-1] == self.patch[-2]) if augment else 1

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A (batch_size, C, *patch) tensor of crops (dtype of the images)."""
        which = torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)
        crops = []
        for index in which.tolist():
            image = self.images[index]
            corner = [
                int(torch.randint(0, size - p + 1, (), generator=generator))
                for size, p in zip(image.shape[1:], self.patch, strict=True)
            ]
            region = tuple(slice(c, c + p) for c, p in zip(corner, self.patch, strict=True))
            crop = image[(slice(None), *region)]
            transform = int(torch.randint(0, self.transforms, (), generator=generator))
            crops.append(dihedral(crop, transform))
        return torch.stack(crops)


def split_validation(
    images: Sequence[torch.Tensor], fraction: float, patch: Sequence[int]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hold out data for validation: whole images when there are enough, else a stripe.

    With 5 or more images, every k-th image (k = 1 / fraction, at least one image) is
    held out, so a list that groups images by source keeps every source in training.
    With fewer, each image gives up a stripe along its longest axis, at least a patch
    wide, when the rest still holds a patch; otherwise nothing is held out.
    """
    if fraction <= 0:
        return list(images), []
    if len(images) >= 5:
        every = max(2, round(1 / fraction))
        held = set(range(min(every, len(images)) - 1, len(images), every))
        return (
            [image for i, image in enumerate(images) if i not in held],
            [image for i, image in enumerate(images) if i in held],
        )
    train, validation = [], []
    for image in images:
        spatial = image.shape[1:]
        axis = max(range(len(spatial)), key=lambda d: spatial[d])
        width = max(patch[axis], round(spatial[axis] * fraction))
        if spatial[axis] - width < patch[axis]:
            train.append(image)
            continue
        train.append(image.narrow(1 + axis, 0, spatial[axis] - width))
        validation.append(image.narrow(1 + axis, spatial[axis] - width, width))
    return train, validation
