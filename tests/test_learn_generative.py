"""Autoencoder and super-resolution GAN (tiny configurations, seconds each)."""

import argparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from motifkit.errors import MotifkitError, ParameterError
from motifkit.learn.autoencoder import (
    ConvAutoencoder,
    mean_image_baseline,
    reconstruction_error,
    train_autoencoder,
)
from motifkit.learn.data import BravaisDataConfig, make_bravais_dataset
from motifkit.learn.srgan import (
    SR_WEIGHTS,
    RandomFeatureNet,
    SRDiscriminator,
    SRGenerator,
    bicubic_upsample,
    content_loss,
    degrade,
    load_sr_generator,
    psnr,
    super_resolve,
    train_srgan,
)


@pytest.fixture(scope="module")
def images():
    return make_bravais_dataset(2, BravaisDataConfig(image_size=32, noise_free_fraction=1.0), random_state=0).images


# ---------------------------------------------------------------- metrics and baselines
def test_psnr_values():
    a = np.zeros((8, 8))
    a[0, 0] = 1.0
    assert psnr(a, a) == float("inf")
    b = a + 0.1
    assert psnr(a, b) == pytest.approx(20.0)  # range 1, MSE 0.01
    assert psnr(torch.from_numpy(a), torch.from_numpy(b), data_range=2.0) == pytest.approx(20 + 20 * np.log10(2))
    with pytest.raises(ParameterError):
        psnr(a, a[:4])
    with pytest.raises(ParameterError):
        psnr(np.ones((4, 4)), np.zeros((4, 4)))


def test_bicubic_and_degrade_shapes(images):
    low = degrade(images, random_state=0)
    assert low.shape == (len(images), 8, 8)
    np.testing.assert_array_equal(low, degrade(images, random_state=0))
    up = bicubic_upsample(low)
    assert up.shape == images.shape
    assert bicubic_upsample(torch.zeros(2, 1, 8, 8)).shape == (2, 1, 32, 32)
    # interpolation: constants stay constant; a ramp keeps its mean slope (1/4 per output pixel)
    np.testing.assert_allclose(bicubic_upsample(np.full((8, 8), 2.5)), 2.5, rtol=1e-6)
    ramp = np.add.outer(np.arange(8.0), np.arange(8.0))
    slope = np.diff(bicubic_upsample(ramp)[8:24, 8:25], axis=1).reshape(16, -1, 4).mean(axis=2)
    np.testing.assert_allclose(slope, 0.25, atol=1e-4)
    with pytest.raises(ParameterError):
        degrade(images[:, :30, :30])


# ---------------------------------------------------------------- SRGAN
def test_generator_discriminator_shapes_and_gradients():
    torch.manual_seed(0)
    g = SRGenerator(channels=8, n_blocks=1)
    d = SRDiscriminator(channels=4, n_stages=2)
    x = torch.randn(2, 1, 12, 12)
    sr = g(x)
    assert sr.shape == (2, 1, 48, 48)
    assert d(sr).shape == (2,)
    loss = d(sr).mean() + content_loss(RandomFeatureNet(), sr, torch.zeros_like(sr))
    loss.backward()
    assert all(p.grad is not None for p in g.parameters())
    with pytest.raises(ParameterError):
        SRGenerator(scale=3)


def test_random_feature_net_is_frozen_and_fixed():
    a, b = RandomFeatureNet(), RandomFeatureNet()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert not pa.requires_grad
        torch.testing.assert_close(pa, pb)


def test_train_srgan_deterministic_and_checkpoint(tmp_path, images):
    def run():
        torch.manual_seed(0)
        return train_srgan(images[:8], images[8:], generator=SRGenerator(channels=8, n_blocks=1),
                           discriminator=SRDiscriminator(channels=4, n_stages=2), pretrain_epochs=1, gan_epochs=1,
                           batch_size=4, random_state=1, verbose=False, device="cpu",
                           checkpoint=str(tmp_path / "sr.pt"))

    g1, h1 = run()
    _, h2 = run()
    assert [h["phase"] for h in h1] == ["pixel", "gan"]
    assert h1 == h2
    payload = torch.load(tmp_path / "sr.pt", weights_only=True)
    assert payload["model"] == "SRGenerator"
    loaded = load_sr_generator(tmp_path / "sr.pt")
    x = torch.randn(1, 1, 8, 8)
    torch.testing.assert_close(loaded(x), g1.eval()(x))
    out = super_resolve(images[0, :8, :8] * 3 + 1, model=loaded)
    assert out.shape == (32, 32) and out.dtype == np.float32


def test_super_resolve_bad_input():
    g = SRGenerator(channels=4, n_blocks=1)
    g.eval()
    with pytest.raises(MotifkitError):
        super_resolve(np.ones((8, 8)), model=g)  # constant image
    with pytest.raises(MotifkitError):
        super_resolve(np.zeros((3, 8, 8)), model=g)


@pytest.mark.skipif(not __import__("os").path.exists(SR_WEIGHTS), reason="shipped SR weights absent")
def test_shipped_generator_beats_bicubic():
    model = load_sr_generator()
    hr = make_bravais_dataset(2, BravaisDataConfig(image_size=64, pixel_size=0.15, noise_free_fraction=1.0),
                              random_state=123).images
    low = degrade(hr, random_state=5)
    gain = [psnr(h, super_resolve(lo, model=model)) - psnr(h, b) for h, lo, b in zip(hr, low, bicubic_upsample(low))]
    assert np.mean(gain) > 1.0


# ---------------------------------------------------------------- autoencoder
def test_autoencoder_shapes_and_bad_config():
    model = ConvAutoencoder(image_size=32, latent_size=20, base_channels=4)
    assert model.encode(torch.zeros(3, 1, 32, 32)).shape == (3, 20)
    assert model.decode(torch.zeros(3, 20)).shape == (3, 1, 32, 32)
    with pytest.raises(ParameterError):
        ConvAutoencoder(image_size=30)
    with pytest.raises(ParameterError):
        ConvAutoencoder(latent_size=0)


def test_autoencoder_training_improves_deterministic_and_checkpoint(tmp_path, images):
    def run():
        torch.manual_seed(0)
        return train_autoencoder(images[:8], images[8:], model=ConvAutoencoder(32, 32, 4), epochs=3, batch_size=4,
                                 lr=5e-3, random_state=0, verbose=False, device="cpu",
                                 checkpoint=str(tmp_path / "ae.pt"))

    m1, h1 = run()
    _, h2 = run()
    assert h1 == h2
    errors = reconstruction_error(m1, images[8:])
    assert set(errors) == {"mse", "psnr", "n_images"} and np.isfinite(errors["psnr"])
    assert errors["mse"] == pytest.approx(min(h["val_mse"] for h in h1), rel=1e-4)
    baseline = mean_image_baseline(images[:8], images[8:])
    assert baseline["mse"] > 0.5  # standardised images: the mean image explains little
    payload = torch.load(tmp_path / "ae.pt", weights_only=True)
    assert payload["model"] == "ConvAutoencoder"
    with pytest.raises(ParameterError):
        reconstruction_error(m1, images[0])


@pytest.mark.parametrize("module", ["autoencoder", "srgan"])
def test_cli(tmp_path, module):
    import importlib

    mod = importlib.import_module(f"motifkit.learn.{module}")
    parser = argparse.ArgumentParser()
    mod.add_train_arguments(parser)
    extra = (["--image-size", "32", "--latent", "8", "--channels", "4", "--epochs", "1"] if module == "autoencoder"
             else ["--image-size", "32", "--channels", "4", "--blocks", "1", "--pretrain-epochs", "1", "--epochs", "0"])
    args = parser.parse_args(["--n-per-class", "10", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "m.pt"),
                              "--metrics", str(tmp_path / "m.json"), "--quiet", *extra])
    assert mod.run_train(args) == 0
    assert (tmp_path / "m.pt").exists() and (tmp_path / "m.json").exists()
