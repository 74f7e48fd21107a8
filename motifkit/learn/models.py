"""Plain-PyTorch models: a DenseNet-style classifier and a U-Net segmenter.

Import this module only when torch is wanted (``motifkit.learn`` loads it lazily).
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError, require

torch = require("torch", "ml", "the motifkit.learn neural networks")
nn = torch.nn
F = torch.nn.functional


def autocorrelation(images: np.ndarray) -> np.ndarray:
    """Normalised, centred autocorrelation of standardised images (NumPy).

    A Hann window suppresses the wrap-around edges. The autocorrelation is translation
    invariant and shows the lattice directly, which makes the classifier's job easier
    than from raw pixels alone.

    Parameters
    ----------
    images : ndarray, shape (N, S, S) or (S, S)

    Returns
    -------
    ndarray of float32, same shape, peak (centre) value 1 scaled to unit std.
    """
    images = np.asarray(images, dtype=np.float32)
    single = images.ndim == 2
    batch = images[None] if single else images
    h, w = batch.shape[-2:]
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    x = batch - batch.mean(axis=(-2, -1), keepdims=True)
    spectrum = np.fft.rfft2(x * window)
    ac = np.fft.irfft2(np.abs(spectrum) ** 2, s=(h, w))
    ac = np.fft.fftshift(ac, axes=(-2, -1))
    ac = ac - ac.mean(axis=(-2, -1), keepdims=True)
    std = ac.std(axis=(-2, -1), keepdims=True)
    ac = (ac / np.where(std > 0, std, 1.0)).astype(np.float32)
    return ac[0] if single else ac


#: Classifier input representations: name -> number of channels.
#: ``"image_autocorrelation"``: the standardised image and its windowed autocorrelation
#: (same size as the image). ``"canonical_autocorrelation"``: the unbiased autocorrelation
#: rotated so the shortest lattice vector lies along +x and scaled to a fixed length
#: (:func:`motifkit.learn.data.canonical_autocorrelation`; 64 x 64 whatever the image size).
#: ``"canonical_mirror"``: the canonical autocorrelation C and its part that is odd under
#: the mirror x -> -x, C - C[:, ::-1], which is zero for the four centred-or-rectangular
#: classes with a mirror normal to the shortest vector and carries the tilt of an oblique cell.
INPUT_TRANSFORMS = {"image_autocorrelation": 2, "canonical_autocorrelation": 1, "canonical_mirror": 2}


def classifier_inputs(images: np.ndarray, transform: str = "image_autocorrelation") -> np.ndarray:
    """Classifier input (N, C, S', S') float32 from standardised images (N, S, S).

    Parameters
    ----------
    images : ndarray, shape (N, S, S)
    transform : str
        A key of :data:`INPUT_TRANSFORMS`.
    """
    images = np.asarray(images, dtype=np.float32)
    if transform == "image_autocorrelation":
        return np.stack([images, autocorrelation(images)], axis=1)
    if transform == "canonical_autocorrelation":
        from .data import canonical_autocorrelations

        return canonical_autocorrelations(images)[:, None]
    if transform == "canonical_mirror":
        from .data import canonical_autocorrelations

        c = canonical_autocorrelations(images)
        # the canonical grid is centred between pixels, so [:, ::-1] is the exact mirror x -> -x
        return np.stack([c, c - c[:, :, ::-1]], axis=1).astype(np.float32)
    raise ParameterError(f"unknown classifier input transform {transform!r}; use one of {sorted(INPUT_TRANSFORMS)}.")


class _DenseLayer(nn.Module):
    def __init__(self, channels: int, growth: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, kernel_size=3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(F.relu(self.norm(x)))], dim=1)


def label_preserving_symmetries(transform: str) -> tuple:
    """Indices ``k`` of :func:`motifkit.learn.train._dihedral` that keep the Bravais label of an input.

    All 8 for raw images; for the canonical autocorrelation (shortest lattice vector fixed
    along +x) only the identity, the 180 degree rotation and the two mirrors.
    """
    return (0, 2, 4, 6) if transform.startswith("canonical") else tuple(range(8))


class DenseNetClassifier(nn.Module):
    """Small DenseNet (dense blocks of BN-ReLU-Conv layers joined by 1x1-conv + pooling).

    Parameters
    ----------
    in_channels : int
        Input channels (2: image and autocorrelation).
    n_classes : int
    growth : int
        Channels added by each dense layer.
    block_layers : tuple of int
        Layers in each dense block; each block but the last is followed by a transition
        that halves channels and resolution (the stem already halves the resolution).
    stem_channels : int
    input_transform : str
        How images become inputs (a key of :data:`INPUT_TRANSFORMS`); stored in the
        checkpoint so inference prepares inputs exactly as in training.

    Examples
    --------
    >>> model = DenseNetClassifier()
    >>> model(torch.zeros(1, 2, 64, 64)).shape
    torch.Size([1, 5])
    """

    def __init__(self, in_channels: int = 2, n_classes: int = 5, growth: int = 8,
                 block_layers=(3, 3, 3), stem_channels: int = 16, input_transform: str = "image_autocorrelation"):
        super().__init__()
        if input_transform not in INPUT_TRANSFORMS:
            raise ParameterError(f"unknown input_transform {input_transform!r}; use one of {sorted(INPUT_TRANSFORMS)}.")
        self.config = {"in_channels": in_channels, "n_classes": n_classes, "growth": growth,
                           "block_layers": tuple(block_layers), "stem_channels": stem_channels,
                           "input_transform": input_transform}
        # the strided stem halves the resolution first: the dense blocks dominate the cost
        layers = [nn.Conv2d(in_channels, stem_channels, kernel_size=3, padding=1, bias=False),
                  nn.BatchNorm2d(stem_channels), nn.ReLU(),
                  nn.Conv2d(stem_channels, stem_channels, kernel_size=3, stride=2, padding=1, bias=False)]
        channels = stem_channels
        for i, n in enumerate(block_layers):
            for _ in range(n):
                layers.append(_DenseLayer(channels, growth))
                channels += growth
            if i < len(block_layers) - 1:
                out = channels // 2
                layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, out, 1, bias=False), nn.AvgPool2d(2)]
                channels = out
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, n_classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class _DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        )


class UNet(nn.Module):
    """U-Net for atom vs background segmentation (one logit channel).

    Parameters
    ----------
    in_channels : int
    base_channels : int
        Channels at full resolution; doubled at each of ``depth`` downsamplings.
    depth : int

    Examples
    --------
    >>> UNet(base_channels=4, depth=2)(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 12, depth: int = 3):
        super().__init__()
        if depth < 1:
            raise ParameterError(f"depth must be >= 1, got {depth}.")
        self.config = {"in_channels": in_channels, "base_channels": base_channels, "depth": depth}
        chans = [base_channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_DoubleConv(in_channels, chans[0])] + [_DoubleConv(chans[i], chans[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth))])
        self.merge = nn.ModuleList([_DoubleConv(2 * chans[i], chans[i]) for i in reversed(range(depth))])
        self.out = nn.Conv2d(chans[0], 1, 1)
        self.multiple = 2**depth

    def forward(self, x):
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:  # reflect-pad to a multiple of 2**depth, crop back at the end
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.out(x)[..., :h, :w]


MODEL_TYPES = {"DenseNetClassifier": DenseNetClassifier, "UNet": UNet}
