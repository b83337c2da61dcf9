"""Built-in nets: ``mlp`` (any feature vector), ``ststnet`` and ``off-apexnet`` (28×28 flow images)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError
from .wrapper import TorchClassifier

FLOW_HINT = ("Use an extractor that yields flow images, such as --features flow-image (u, v, strain at 28×28).")


def _pooled(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class STSTNetModule(nn.Module):
    """STSTNet (Liong et al. 2019): three shallow streams of 3, 5 and 8 3×3 filters on (u, v, strain).

    Every stream convolves all three input channels (padding 2), then ReLU, batch norm, 3×3 max
    pooling (stride 3, padding 1) and dropout; the 16 maps are concatenated, average-pooled 2×2 and
    fed to one linear layer (400 inputs at 28×28). The three streams are computed as one
    16-filter convolution and one 16-channel batch norm, which is the same function (batch norm is
    per channel), in one pass.
    """

    streams = (3, 5, 8)

    def __init__(self, n_classes: int, in_channels: int = 3, size: tuple = (28, 28), dropout: float = 0.5):
        super().__init__()
        width = sum(self.streams)
        self.conv = nn.Conv2d(in_channels, width, kernel_size=3, padding=2)
        self.bn = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.avgpool = nn.AvgPool2d(kernel_size=2, stride=2)
        h, w = (_pooled(_pooled(s + 2, 3, 3, 1), 2, 2, 0) for s in size)
        self.fc = nn.Linear(width * h * w, n_classes)

    def forward(self, x):
        x = self.dropout(self.pool(self.bn(torch.relu(self.conv(x)))))
        return self.fc(self.avgpool(x).flatten(1))


class OffApexNetModule(nn.Module):
    """OFF-ApexNet (Gan et al. 2019): one stream per flow component (u, v) from onset to apex.

    Each stream: 5×5 convolution with 6 filters, 2×2 max pooling, 5×5 convolution with 16
    filters, 2×2 max pooling ("same" padding, ReLU). The two streams are flattened, concatenated
    and classified by two fully connected layers of 1024 units with dropout.
    """

    def __init__(self, n_classes: int, size: tuple = (28, 28), hidden: int = 1024, dropout: float = 0.5):
        super().__init__()
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
            for _ in range(2))
        h, w = (s // 2 // 2 for s in size)
        self.head = nn.Sequential(nn.Linear(2 * 16 * h * w, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, n_classes))

    def forward(self, x):
        parts = [stream(x[:, i:i + 1]).flatten(1) for i, stream in enumerate(self.streams)]
        return self.head(torch.cat(parts, dim=1))


class STSTNet(TorchClassifier):
    """STSTNet on 28×28 (u, v, strain) flow images; published settings: Adam, lr 5e-5, batch 256, 500 epochs.

    Plain torch training; ``fit_folds`` (``mebench run --jobs N``) trains the folds of a run together
    (see ``batched.py``).
    """

    image_shape = (3, 28, 28)
    input_hint = FLOW_HINT
    net_params = {"dropout": 0.5}
    defaults = {"epochs": 500, "batch_size": 256, "lr": 5e-5, "selection": "fixed"}
    quick_params = {"epochs": 4, "lr": 1e-2, "batch_size": 32}

    def build_module(self, input_shape, n_classes):
        return STSTNetModule(n_classes, in_channels=input_shape[0], size=input_shape[1:], dropout=float(self.dropout))


class OffApexNet(TorchClassifier):
    """OFF-ApexNet on onset→apex flow: two streams on u and v (a third strain channel is ignored)."""

    image_shape = ((2, 28, 28), (3, 28, 28))
    input_hint = FLOW_HINT
    net_params = {"hidden": 1024, "dropout": 0.5}
    defaults = {"epochs": 200, "batch_size": 64, "lr": 1e-4, "patience": 30}
    quick_params = {"epochs": 4, "lr": 1e-3, "batch_size": 32, "hidden": 64}

    def _transform_inputs(self, X):
        return np.ascontiguousarray(X[:, :2])

    def build_module(self, input_shape, n_classes):
        return OffApexNetModule(n_classes, size=input_shape[1:], hidden=int(self.hidden), dropout=float(self.dropout))


def parse_hidden(hidden) -> tuple[int, ...]:
    """``256``, ``"256,128"`` or ``[256, 128]`` → (256, 128); ``0`` or ``""`` → no hidden layer."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        sizes = (int(hidden),) if hidden else ()
    elif isinstance(hidden, str):
        sizes = tuple(int(p) for p in hidden.replace(" ", "").split(",") if p and p != "0")
    elif isinstance(hidden, (list, tuple)):
        sizes = tuple(int(p) for p in hidden)
    else:
        raise ConfigError(f"mlp: hidden must be an integer or a comma list such as '256,128', not {hidden!r}.")
    if any(s < 1 for s in sizes):
        raise ConfigError(f"mlp: hidden layer sizes must be positive, got {hidden!r}.")
    return sizes


class MLP(TorchClassifier):
    """Multi-layer perceptron on any feature vector, standardised on the training fold."""

    net_params = {"hidden": 256, "dropout": 0.2, "standardize": True}
    defaults = {"epochs": 200, "batch_size": 64, "lr": 1e-3, "weight_decay": 1e-4, "patience": 20}
    quick_params = {"epochs": 30, "lr": 1e-2}

    def _fit_inputs(self, X):
        flat = X.reshape(len(X), -1).astype(np.float64)
        self.mean_ = flat.mean(axis=0) if self.standardize else np.zeros(flat.shape[1])
        scale = flat.std(axis=0) if self.standardize else np.ones(flat.shape[1])
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)

    def _transform_inputs(self, X):
        flat = X.reshape(len(X), -1)
        return ((flat - self.mean_) / self.scale_).astype(np.float32)

    def build_module(self, input_shape, n_classes):
        layers, width = [], int(np.prod(input_shape))
        for size in parse_hidden(self.hidden):
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(float(self.dropout))]
            width = size
        layers.append(nn.Linear(width, n_classes))
        return nn.Sequential(*layers)
