"""Convolutional autoencoder of STEM images (image -> latent vector -> image), as in AtomVision.

The encoder halves the resolution three times with strided convolutions, then a linear
layer maps to the latent vector (AtomVision: 1120 numbers); the decoder mirrors it with
transposed convolutions. Reconstruction error is reported as MSE and PSNR on held-out
images, next to the trivial baseline of predicting the mean training image.
"""

from __future__ import annotations


import numpy as np

from .._utils import check_random_state, progress
from ..errors import ParameterError, require
from .data import BravaisDataConfig

torch = require("torch", "ml", "the motifkit.learn autoencoder")
nn = torch.nn
F = torch.nn.functional

from .models import MODEL_TYPES
from .srgan import psnr
from .cli import add_common_arguments
from .train import _dihedral, default_device, finish_training, save_checkpoint, task_main


class ConvAutoencoder(nn.Module):
    """Image -> latent vector -> image.

    Parameters
    ----------
    image_size : int
        Side of the square input images; a multiple of 8.
    latent_size : int
        Length of the latent vector (AtomVision: 1120).
    base_channels : int
        Channels after the first downsampling (doubled twice).

    Examples
    --------
    >>> model = ConvAutoencoder(image_size=32, latent_size=16, base_channels=4)
    >>> model.encode(torch.zeros(2, 1, 32, 32)).shape, model(torch.zeros(2, 1, 32, 32)).shape
    (torch.Size([2, 16]), torch.Size([2, 1, 32, 32]))
    """

    def __init__(self, image_size: int = 64, latent_size: int = 1120, base_channels: int = 16):
        super().__init__()
        if image_size % 8 or image_size < 8:
            raise ParameterError(f"image_size must be a positive multiple of 8, got {image_size}.")
        if latent_size < 1:
            raise ParameterError(f"latent_size must be >= 1, got {latent_size}.")
        self.config = dict(image_size=image_size, latent_size=latent_size, base_channels=base_channels)
        c = [base_channels, 2 * base_channels, 4 * base_channels]
        self.bottleneck_shape = (c[2], image_size // 8, image_size // 8)
        flat = int(np.prod(self.bottleneck_shape))

        def down(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.SiLU(),
                    nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.SiLU()]

        def up(c_in, c_out):
            return [nn.ConvTranspose2d(c_in, c_out, 2, stride=2), nn.BatchNorm2d(c_out), nn.SiLU(),
                    nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.SiLU()]

        self.encoder = nn.Sequential(*down(1, c[0]), *down(c[0], c[1]), *down(c[1], c[2]), nn.Flatten(),
                                     nn.Linear(flat, latent_size))
        self.decoder_input = nn.Linear(latent_size, flat)
        self.decoder = nn.Sequential(*up(c[2], c[1]), *up(c[1], c[0]), *up(c[0], c[0]), nn.Conv2d(c[0], 1, 3, padding=1))

    def encode(self, x):
        """Latent vectors (N, latent_size) of images (N, 1, S, S)."""
        return self.encoder(x)

    def decode(self, z):
        """Images (N, 1, S, S) from latent vectors (N, latent_size)."""
        return self.decoder(self.decoder_input(z).reshape((-1,) + self.bottleneck_shape))

    def forward(self, x):
        return self.decode(self.encode(x))


MODEL_TYPES.setdefault("ConvAutoencoder", ConvAutoencoder)


def reconstruct(model, images, device=None, batch_size: int = 128) -> np.ndarray:
    """Reconstructions (N, S, S) of standardised images (N, S, S)."""
    device = default_device(device)
    model.eval().to(device)
    images = np.asarray(images, dtype=np.float32)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))[:, None].to(device)
            out.append(model(x)[:, 0].cpu().numpy())
    return np.concatenate(out) if out else np.zeros_like(images)


def _errors(images, estimates) -> dict:
    mse = np.mean((images - estimates) ** 2, axis=(1, 2))
    return {"mse": float(mse.mean()), "psnr": float(np.mean([psnr(a, b) for a, b in zip(images, estimates)]))}


def reconstruction_error(model, images, device=None) -> dict:
    """Mean per-image MSE and PSNR (dB, data range = each image's max - min) of the reconstructions.

    Parameters
    ----------
    model : ConvAutoencoder
    images : ndarray, shape (N, S, S)
        Standardised images (as in the Bravais dataset).

    Returns
    -------
    dict
        ``mse``, ``psnr``, ``n_images``.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise ParameterError(f"images must be a non-empty (N, S, S) stack, got shape {images.shape}.")
    return {**_errors(images, reconstruct(model, images, device)), "n_images": len(images)}


def mean_image_baseline(train_images, test_images) -> dict:
    """MSE and PSNR of predicting every test image by the mean training image (trivial baseline)."""
    mean = np.asarray(train_images, dtype=np.float32).mean(axis=0)
    test = np.asarray(test_images, dtype=np.float32)
    return {**_errors(test, np.broadcast_to(mean, test.shape)), "n_images": len(test)}


def train_autoencoder(train_images, val_images, *, model=None, epochs: int = 10, batch_size: int = 64, lr: float = 2e-3,
                      checkpoint: str | None = None, data_config: BravaisDataConfig | None = None, device=None,
                      random_state=0, verbose: bool = True):
    """Train a :class:`ConvAutoencoder` with MSE loss; keep the best validation MSE.

    Parameters
    ----------
    train_images, val_images : ndarray, shape (N, S, S)
        Standardised images.
    model : ConvAutoencoder, optional
        Default: latent 1120 for the images' size.
    epochs, batch_size, lr
        AdamW with a one-cycle schedule; random dihedral (rot90/flip) augmentation.
    checkpoint : str, optional
    data_config : BravaisDataConfig, optional
        Stored in the checkpoint.
    device, random_state, verbose

    Returns
    -------
    model : ConvAutoencoder
        Eval mode, best validation weights.
    history : list of dict
        Per epoch ``loss`` and validation ``mse``, ``psnr``.
    """
    train = np.asarray(train_images, dtype=np.float32)
    val = np.asarray(val_images, dtype=np.float32)
    if train.ndim != 3 or len(train) == 0 or val.ndim != 3 or len(val) == 0:
        raise ParameterError("train_images and val_images must be non-empty (N, S, S) stacks.")
    rng = check_random_state(random_state)
    torch.manual_seed(int(rng.integers(2**31)))
    device = default_device(device)
    model = (model or ConvAutoencoder(image_size=train.shape[-1])).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    n_batches = int(np.ceil(len(train) / batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=max(epochs * n_batches, 1))
    best, best_state, history = np.inf, None, []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for b in progress(range(n_batches), verbose=verbose, desc=f"epoch {epoch + 1}/{epochs}"):
            idx = order[b * batch_size : (b + 1) * batch_size]
            x = _dihedral(torch.from_numpy(train[idx])[:, None].to(device), int(rng.integers(8)))
            loss = F.mse_loss(model(x), x)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += loss.item() * len(idx)
        metrics = reconstruction_error(model, val, device)
        history.append({"epoch": epoch + 1, "loss": total / len(train), "val_mse": metrics["mse"], "val_psnr": metrics["psnr"]})
        if verbose:
            print(f"epoch {epoch + 1}: loss {total / len(train):.4f} val MSE {metrics['mse']:.4f} PSNR {metrics['psnr']:.2f} dB",
                  flush=True)
        if metrics["mse"] < best:
            best = metrics["mse"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint:
                save_checkpoint(checkpoint, model, data_config=data_config, metrics={"val_mse": best, "epoch": epoch + 1})
    model.load_state_dict(best_state)
    return model.eval(), history


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
def add_train_arguments(parser) -> None:
    """Arguments of ``motifkit train autoencoder``."""
    add_common_arguments(parser, epochs=10, batch_size=64, lr=0.002, n_per_class=1000, out="autoencoder.pt", init=False)
    parser.add_argument("--image-size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--pixel-size", type=float, default=0.3, help="training pixel size in Å (default 0.3)")
    parser.add_argument("--latent", type=int, default=1120, help="latent vector length (default 1120, as AtomVision)")
    parser.add_argument("--channels", type=int, default=16, help="channels after the first downsampling")

def run_train(args) -> int:
    """Train the autoencoder on the Bravais dataset; report held-out MSE/PSNR and the mean-image baseline."""
    from .data import make_bravais_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    verbose = not args.quiet
    config = BravaisDataConfig(image_size=args.image_size, pixel_size=args.pixel_size)
    data = make_bravais_dataset(args.n_per_class, config, random_state=args.seed, cache_dir=args.cache_dir, verbose=verbose)
    train, val, test = data.split((0.8, 0.1, 0.1), random_state=args.seed)
    out = args.out or "autoencoder.pt"
    model = ConvAutoencoder(args.image_size, args.latent, args.channels)
    model, history = train_autoencoder(train.images, val.images, model=model, epochs=args.epochs, batch_size=args.batch_size,
                                       lr=args.lr, checkpoint=out, data_config=config, device=args.device,
                                       random_state=args.seed, verbose=verbose)
    metrics = {"autoencoder": reconstruction_error(model, test.images, args.device),
               "mean_image_baseline": mean_image_baseline(train.images, test.images), "latent_size": args.latent}
    return finish_training(out, model, config, metrics, history, args.metrics)


def main(argv=None) -> int:
    return task_main("python -m motifkit.learn.autoencoder", "train the autoencoder", add_train_arguments, run_train, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
