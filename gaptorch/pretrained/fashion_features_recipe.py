"""Train the bundled Fashion-MNIST feature classifier (`gaptorch.fashion_features`).

Adam (lr 2e-3, cosine decay), batches of 128, random horizontal flips, on the 60,000
training images of Debian's dataset-fashion-mnist; test accuracy on the 10,000 test
images goes into the model card. CPU, one thread, a few minutes.

Run: `python -m gaptorch.pretrained.fashion_features_recipe [--epochs 3] [--out DIR]`,
then set `gaptorch.fashion_features.SHA256` to the printed hash.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gaptorch.datasets import fashion_mnist, fashion_mnist_labels
from gaptorch.fashion_features import FOLDER, FashionClassifier
from gaptorch.pretrained import sha256_of


@torch.no_grad()
def accuracy(network: FashionClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of `images` (N, 1, 28, 28) whose predicted class is the label."""
    network.eval()
    predicted = torch.cat([network(chunk).argmax(dim=1) for chunk in images.split(1000)])
    return float((predicted == labels).float().mean())


def train(
    epochs: float, seed: int, batch_size: int = 128, lr: float = 2e-3
) -> tuple[FashionClassifier, dict]:
    """Train the classifier; returns it and a record (accuracy, time, settings)."""
    torch.manual_seed(seed)
    images = torch.from_numpy(fashion_mnist("train").copy())[:, None]
    labels = torch.from_numpy(fashion_mnist_labels("train").astype(np.int64))
    test_images = torch.from_numpy(fashion_mnist("test").copy())[:, None]
    test_labels = torch.from_numpy(fashion_mnist_labels("test").astype(np.int64))
    network = FashionClassifier()
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    steps = math.ceil(epochs * len(images) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    began = time.perf_counter()
    for step in range(steps):
        network.train()
        which = torch.randint(0, len(images), (batch_size,))
        batch = images[which].float()
        batch = torch.where(torch.rand(batch_size, 1, 1, 1) < 0.5, batch.flip(-1), batch)
        loss = F.cross_entropy(network(batch), labels[which])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 500 == 0:
            print(
                f"step {step + 1}/{steps} loss {loss.item():.3f}",
                f"{time.perf_counter() - began:.0f}s",
                flush=True,
            )
    record = {
        "test_accuracy": round(accuracy(network, test_images, test_labels), 4),
        "train_seconds": round(time.perf_counter() - began, 1),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "parameters": sum(p.numel() for p in network.parameters()),
    }
    return network, record


def card(record: dict) -> str:
    """The model card of the feature classifier."""
    return "\n".join(
        [
            "# Fashion-MNIST classifier features",
            "",
            "A small CNN (gaptorch.fashion_features.FashionClassifier) trained to classify",
            "Fashion-MNIST; its 128-unit hidden layer gives the features of",
            '"FD (Fashion-MNIST classifier features)" (gaptorch.frechet).',
            "Not Inception features: the numbers are not FIDs.",
            "",
            f"- test accuracy (10,000 test images): {record['test_accuracy']:.2%}",
            f"- trained by gaptorch.pretrained.fashion_features_recipe: {record['epochs']} epochs, "
            f"batch {record['batch_size']}, lr {record['lr']}, seed {record['seed']}, "
            f"{record['train_seconds']:.0f} s on one CPU thread; {record['parameters']} parameters",
            "",
        ]
    )


def main() -> None:
    """Train, save the folder and print its accuracy and hash."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=FOLDER)
    args = parser.parse_args()
    network, record = train(args.epochs, args.seed)
    network.save_pretrained(args.out, card(record))
    print(record)
    print("sha256", sha256_of(args.out / "model.safetensors"))


if __name__ == "__main__":
    main()
