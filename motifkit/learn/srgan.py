"""4x super-resolution GAN for STEM images (AtomVision's SRGAN, plain PyTorch).

Generator: a 9x9 head, residual blocks (conv-BN-PReLU-conv-BN), a global skip and two
pixel-shuffle x2 stages; it predicts the residual over bicubic upsampling. Discriminator:
strided convolutions with LeakyReLU. Training: pixel (L1) pre-training, then adversarial
fine-tuning with pixel + content + adversarial losses.

Content loss substitute (no VGG can be downloaded here): L1 distance between the feature
maps of a *small frozen randomly initialised* conv net (:class:`RandomFeatureNet`, fixed
seed) plus the L1 distance of Fourier magnitudes. Random conv features still measure local
structure (edges, peak shapes) beyond per-pixel error, but they are not the perceptual
ImageNet features of the SRGAN paper.

Training pairs: clean simulated high-resolution images (the Bravais dataset recipe at
0.15 Å/px) and low-resolution inputs made by Gaussian blur, 4x4 area downsampling and
additive Gaussian noise (:func:`degrade`).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from .._utils import check_random_state, progress
from ..errors import ParameterError, require
from ..micrograph import validate_image
from .data import BravaisDataConfig, standardise

torch = require("torch", "ml", "motifkit.learn super-resolution")
nn = torch.nn
F = torch.nn.functional

from .models import MODEL_TYPES
from .cli import add_common_arguments
from .train import default_device, finish_training, load_checkpoint, save_checkpoint, task_main

SCALE = 4

#: Dataset recipe of the high-resolution training images (clean, 0.15 Å/px).
SR_DATA_CONFIG = BravaisDataConfig(image_size=64, pixel_size=0.15, noise_free_fraction=1.0)


# --------------------------------------------------------------------------------------
# metrics and baseline
# --------------------------------------------------------------------------------------
def psnr(reference, estimate, data_range=None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(range^2 / MSE)``.

    Parameters
    ----------
    reference, estimate : array_like or Tensor, same shape
    data_range : float, optional
        Default: ``max - min`` of ``reference``.

    Returns
    -------
    float
        ``inf`` for identical inputs.

    Examples
    --------
    >>> psnr(np.ones((4, 4)), np.ones((4, 4)))
    inf
    """
    ref = np.asarray(reference.detach().cpu() if hasattr(reference, "detach") else reference, dtype=float)
    est = np.asarray(estimate.detach().cpu() if hasattr(estimate, "detach") else estimate, dtype=float)
    if ref.shape != est.shape:
        raise ParameterError(f"reference {ref.shape} and estimate {est.shape} must have the same shape.")
    mse = float(np.mean((ref - est) ** 2))
    if mse == 0:
        return float("inf")
    rng = float(ref.max() - ref.min()) if data_range is None else float(data_range)
    if not rng > 0:
        raise ParameterError("data_range is 0 (constant reference); pass data_range explicitly.")
    return float(10 * np.log10(rng**2 / mse))


def bicubic_upsample(images, scale: int = SCALE):
    """Bicubic upsampling (``F.interpolate(mode="bicubic", align_corners=False)``).

    Parameters
    ----------
    images : ndarray or Tensor, shape (H, W), (N, H, W) or (N, 1, H, W)

    Returns
    -------
    Same type and leading shape, spatial size ``scale`` times larger.
    """
    is_numpy = not isinstance(images, torch.Tensor)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)) if is_numpy else images
    ndim = x.ndim
    x4 = x.reshape((-1, 1) + tuple(x.shape[-2:]))
    up = F.interpolate(x4, scale_factor=int(scale), mode="bicubic", align_corners=False)
    up = up.reshape(tuple(x.shape[:-2]) + tuple(up.shape[-2:])) if ndim != 4 else up
    return up.numpy() if is_numpy else up


def degrade(high_res, *, scale: int = SCALE, blur_sigma: float = 1.0, noise_range=(0.0, 0.1), random_state=None):
    """Low-resolution inputs: Gaussian blur, ``scale x scale`` area downsampling, Gaussian noise.

    Parameters
    ----------
    high_res : ndarray, shape (N, H, W)
        Standardised images; H and W multiples of ``scale``.
    blur_sigma : float
        Blur in high-resolution pixels (anti-aliasing before downsampling).
    noise_range : (float, float)
        Noise standard deviation (in units of the image std) drawn uniformly per image.
    random_state : int, Generator or None

    Returns
    -------
    ndarray of float32, shape (N, H / scale, W / scale)
    """
    from scipy import ndimage

    rng = check_random_state(random_state)
    hr = np.asarray(high_res, dtype=np.float32)
    if hr.ndim != 3 or hr.shape[1] % scale or hr.shape[2] % scale:
        raise ParameterError(f"high_res must be (N, H, W) with H, W multiples of {scale}, got {hr.shape}.")
    blurred = ndimage.gaussian_filter(hr, sigma=(0, blur_sigma, blur_sigma), mode="reflect")
    n, h, w = hr.shape
    low = blurred.reshape(n, h // scale, scale, w // scale, scale).mean(axis=(2, 4))
    sigma = rng.uniform(noise_range[0], noise_range[1], size=(n, 1, 1))
    return (low + sigma * rng.standard_normal(low.shape)).astype(np.float32)


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------
class _ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return x + self.body(x)


class SRGenerator(nn.Module):
    """SRGAN generator for ``scale``-times super-resolution of one-channel images.

    Parameters
    ----------
    channels : int
    n_blocks : int
        Residual blocks (conv-BN-PReLU-conv-BN).
    scale : int
        Power of 2 (pixel-shuffle x2 stages).

    Examples
    --------
    >>> SRGenerator(channels=8, n_blocks=1)(torch.zeros(2, 1, 16, 16)).shape
    torch.Size([2, 1, 64, 64])
    """

    def __init__(self, channels: int = 32, n_blocks: int = 6, scale: int = SCALE):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ParameterError(f"scale must be a power of 2 >= 2, got {scale}.")
        self.config = dict(channels=channels, n_blocks=n_blocks, scale=scale)
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(1, channels, 9, padding=4), nn.PReLU(channels))
        self.blocks = nn.Sequential(*[_ResidualBlock(channels) for _ in range(n_blocks)])
        self.body_out = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        ups = []
        for _ in range(int(np.log2(scale))):
            ups += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(channels)]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(channels, 1, 9, padding=4)

    def forward(self, x):
        features = self.head(x)
        features = features + self.body_out(self.blocks(features))
        # residual over bicubic: the network only learns what interpolation misses
        return bicubic_upsample(x, self.scale) + self.tail(self.upsample(features))


class SRDiscriminator(nn.Module):
    """SRGAN discriminator: conv-LeakyReLU stages (strided every other one), then a linear head."""

    def __init__(self, channels: int = 16, n_stages: int = 3):
        super().__init__()
        self.config = dict(channels=channels, n_stages=n_stages)
        layers, c_in = [nn.Conv2d(1, channels, 3, padding=1), nn.LeakyReLU(0.2)], channels
        for i in range(n_stages):
            c_out = channels * 2**i
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2),
                       nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c_in, 2 * c_in), nn.LeakyReLU(0.2), nn.Linear(2 * c_in, 1))

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))[:, 0]


class RandomFeatureNet(nn.Module):
    """Frozen, randomly initialised (fixed seed) conv net whose features stand in for VGG's.

    An honest substitute for the perceptual loss: no pretrained network is available offline.
    """

    def __init__(self, channels: int = 16, seed: int = 1234):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList([nn.Conv2d(1, channels, 3, padding=1), nn.Conv2d(channels, channels, 3, padding=1, stride=2),
                                    nn.Conv2d(channels, channels, 3, padding=1)])
        with torch.no_grad():
            for conv in self.convs:
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * np.sqrt(2.0 / fan_in))
                conv.bias.zero_()
        self.requires_grad_(False)

    def forward(self, x):
        feats = []
        for conv in self.convs:
            x = F.relu(conv(x))
            feats.append(x)
        return feats


def content_loss(feature_net, estimate, target):
    """Substitute content loss: random-conv-feature L1 plus Fourier-magnitude L1 (see module docstring)."""
    loss = sum(F.l1_loss(a, b) for a, b in zip(feature_net(estimate), feature_net(target)))
    spectrum = F.l1_loss(torch.fft.rfft2(estimate, norm="ortho").abs(), torch.fft.rfft2(target, norm="ortho").abs())
    return loss + spectrum


MODEL_TYPES.setdefault("SRGenerator", SRGenerator)
MODEL_TYPES.setdefault("SRDiscriminator", SRDiscriminator)


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
def _upscale(generator, low, device, batch_size=64):
    generator.eval().to(device)
    out = []
    with torch.no_grad():
        for start in range(0, len(low), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(low[start : start + batch_size]))[:, None].to(device)
            out.append(generator(x)[:, 0].cpu().numpy())
    return np.concatenate(out)


def evaluate_super_resolution(generator, high_res, low_res, device=None) -> dict:
    """Mean PSNR (dB) of the generator and of bicubic upsampling against the high-resolution images.

    PSNR uses each reference image's own ``max - min`` as the data range.
    """
    device = default_device(device)
    sr = _upscale(generator, low_res, device)
    bicubic = bicubic_upsample(low_res)
    p_sr = np.array([psnr(h, s) for h, s in zip(high_res, sr)])
    p_bi = np.array([psnr(h, b) for h, b in zip(high_res, bicubic)])
    return {"psnr_sr": float(p_sr.mean()), "psnr_bicubic": float(p_bi.mean()), "psnr_gain": float((p_sr - p_bi).mean()),
            "n_test": len(high_res)}


def train_srgan(high_res_train, high_res_val, *, generator=None, discriminator=None, pretrain_epochs: int = 10,
                gan_epochs: int = 5, batch_size: int = 32, lr: float = 1e-3, adversarial_weight: float = 1e-3,
                content_weight: float = 0.05, noise_range=(0.0, 0.1), checkpoint: str | None = None,
                data_config: BravaisDataConfig | None = None, device=None, random_state=0, verbose: bool = True):
    """Train the SR generator: L1 pre-training, then adversarial + content + pixel fine-tuning.

    Low-resolution inputs are degraded afresh each epoch (:func:`degrade`, new noise);
    random dihedral flips/rotations augment. The validation set is degraded once with a
    fixed seed; the generator with the best validation PSNR is kept.

    Parameters
    ----------
    high_res_train, high_res_val : ndarray, shape (N, H, W)
        Standardised clean images, sides multiples of 4.
    generator, discriminator : optional
    pretrain_epochs, gan_epochs : int
    batch_size, lr : Adam settings (GAN phase at ``lr / 10``).
    adversarial_weight, content_weight : float
        Loss weights next to the pixel L1 loss in the GAN phase.
    checkpoint : str, optional
        Best generator (state-dict checkpoint).
    device, random_state, verbose

    Returns
    -------
    generator : SRGenerator
        Best validation weights, eval mode.
    history : list of dict
        Per epoch: ``phase``, ``loss``, validation ``psnr_sr`` and ``psnr_bicubic``.
    """
    train = np.asarray(high_res_train, dtype=np.float32)
    val = np.asarray(high_res_val, dtype=np.float32)
    if len(train) == 0 or len(val) == 0:
        raise ParameterError("train and validation image sets must be non-empty.")
    rng = check_random_state(random_state)
    torch.manual_seed(int(rng.integers(2**31)))
    device = default_device(device)
    generator = (generator or SRGenerator()).to(device)
    discriminator = (discriminator or SRDiscriminator()).to(device)
    feature_net = RandomFeatureNet().to(device)
    val_low = degrade(val, noise_range=noise_range, random_state=int(rng.integers(2**31)))
    from .train import _dihedral

    best, best_state, history = -np.inf, None, []
    phases = [("pixel", pretrain_epochs, lr), ("gan", gan_epochs, lr / 10)]
    g_opt = d_opt = None
    for phase, n_epochs, phase_lr in phases:
        g_opt = torch.optim.Adam(generator.parameters(), lr=phase_lr)
        d_opt = torch.optim.Adam(discriminator.parameters(), lr=phase_lr)
        for epoch in range(n_epochs):
            generator.train()
            discriminator.train()
            low = degrade(train, noise_range=noise_range, random_state=rng)
            order = rng.permutation(len(train))
            total = 0.0
            batches = [order[s : s + batch_size] for s in range(0, len(train), batch_size)]
            for idx in progress(batches, verbose=verbose, desc=f"{phase} {epoch + 1}/{n_epochs}"):
                k = int(rng.integers(8))
                x = _dihedral(torch.from_numpy(low[idx])[:, None].to(device), k)
                y = _dihedral(torch.from_numpy(train[idx])[:, None].to(device), k)
                sr = generator(x)
                loss = F.l1_loss(sr, y)
                if phase == "gan":
                    real = discriminator(y)
                    fake = discriminator(sr.detach())
                    d_loss = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                              + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
                    d_opt.zero_grad()
                    d_loss.backward()
                    d_opt.step()
                    fooled = discriminator(sr)
                    loss = (loss + content_weight * content_loss(feature_net, sr, y)
                            + adversarial_weight * F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled)))
                g_opt.zero_grad()
                loss.backward()
                g_opt.step()
                total += loss.item() * len(idx)
            metrics = evaluate_super_resolution(generator, val, val_low, device)
            history.append({"phase": phase, "epoch": epoch + 1, "loss": total / len(train), **metrics})
            if verbose:
                print(f"{phase} epoch {epoch + 1}: loss {total / len(train):.4f} val PSNR {metrics['psnr_sr']:.2f} dB "
                      f"(bicubic {metrics['psnr_bicubic']:.2f})", flush=True)
            if metrics["psnr_sr"] > best:
                best = metrics["psnr_sr"]
                best_state = {k: v.detach().clone() for k, v in generator.state_dict().items()}
                if checkpoint:
                    save_checkpoint(checkpoint, generator, data_config=data_config,
                                    metrics={"val_psnr": best, "phase": phase, "epoch": epoch + 1})
    if best_state is not None:
        generator.load_state_dict(best_state)
    return generator.eval(), history


# --------------------------------------------------------------------------------------
# inference
# --------------------------------------------------------------------------------------
SR_WEIGHTS = os.path.join(os.path.dirname(__file__), "weights", "sr_generator.pt")


def load_sr_generator(path=None, device=None):
    """The shipped (or a given) SR generator checkpoint, loaded with ``weights_only=True``."""
    path = os.fspath(path) if path is not None else SR_WEIGHTS
    model, data_config, metrics = load_checkpoint(path, device)
    if not isinstance(model, SRGenerator):
        raise ParameterError(f"{path} holds a {type(model).__name__}, not an SRGenerator; pass an SR generator checkpoint.")
    model.data_config, model.metrics = data_config, metrics
    return model


def super_resolve(image, model=None) -> np.ndarray:
    """4x super-resolved image.

    The input is standardised for the network (as in training) and the output mapped back
    to the input's mean and standard deviation. The shipped generator was trained on
    simulated STEM images at 0.6 Å/px input (0.15 Å/px output); other samplings work but
    are outside its training distribution.

    Parameters
    ----------
    image : ndarray or Micrograph, shape (H, W)
    model : SRGenerator or str, optional
        Default: the shipped ``weights/sr_generator.pt``.

    Returns
    -------
    ndarray of float32, shape (4 H, 4 W)

    Examples
    --------
    >>> super_resolve(np.random.default_rng(0).random((16, 16))).shape  # doctest: +SKIP
    (64, 64)
    """
    from ..micrograph import Micrograph

    data = validate_image(image.data if isinstance(image, Micrograph) else image, name="image", min_size=4)
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_sr_generator(model)
    mean, std = float(data.mean()), float(data.std())
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(standardise(data))[None, None].to(device))[0, 0].cpu().numpy()
    return (out * std + mean).astype(np.float32)


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
def add_train_arguments(parser) -> None:
    """Arguments of ``motifkit train srgan``."""
    add_common_arguments(parser, epochs=5, batch_size=32, lr=0.001, n_per_class=400, out="sr_generator.pt", init=False)
    parser.add_argument("--image-size", type=int, default=64, help="high-resolution image side, a multiple of 4 (default 64)")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=6, help="residual blocks of the generator")
    parser.add_argument("--pretrain-epochs", type=int, default=10, help="L1 pre-training epochs")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="train on at most this many (randomly chosen) images of the training split")

def run_train(args) -> int:
    """Simulate clean high-resolution images, train the SRGAN, report held-out PSNR against bicubic."""
    from .data import make_bravais_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    verbose = not args.quiet
    config = dataclasses.replace(SR_DATA_CONFIG, image_size=args.image_size)
    data = make_bravais_dataset(args.n_per_class, config, random_state=args.seed, cache_dir=args.cache_dir, verbose=verbose)
    train, val, test = data.split((0.8, 0.1, 0.1), random_state=args.seed)
    if args.train_limit is not None and args.train_limit < len(train):
        train = train.subset(np.sort(check_random_state(args.seed).permutation(len(train))[: args.train_limit]))
    out = args.out or "sr_generator.pt"
    generator, history = train_srgan(train.images, val.images, generator=SRGenerator(args.channels, args.blocks),
                                     pretrain_epochs=args.pretrain_epochs, gan_epochs=args.epochs,
                                     batch_size=args.batch_size, lr=args.lr, checkpoint=out, data_config=config,
                                     device=args.device, random_state=args.seed, verbose=verbose)
    test_low = degrade(test.images, random_state=args.seed + 1)
    metrics = evaluate_super_resolution(generator, test.images, test_low, args.device)
    metrics["n_train"] = len(train)
    metrics["best_validation"] = max(history, key=lambda h: h["psnr_sr"]) if history else None
    return finish_training(out, generator, config, metrics, history, args.metrics)


def main(argv=None) -> int:
    return task_main("python -m motifkit.learn.srgan", "train the 4x SRGAN", add_train_arguments, run_train, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
