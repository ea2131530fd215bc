"""Image Glow (waveglow.glow), its data loaders (waveglow_data.images) and the `glow` command.

Layers: exact inverse and log-det = log|det| of the autograd Jacobian, in float64 with every parameter perturbed
(zero-initialised convolutions and ActNorm included). Model: reconstruction, bits/dim against an independent
calculation, a short training run that lowers the loss. Data: idx / CIFAR-binary parsing on synthetic files.
"""
import argparse
import gzip
import io
import json
import math
import tarfile

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

from waveglow.common.errors import DataError
from waveglow.flows.coupling import AffineCoupling
from waveglow.glow.checkpoint import glow_state_matches, load_glow, save_glow
from waveglow.glow.layers import CouplingNet, LogitTransform
from waveglow.glow.training import categorical_bpd, evaluate_bpd, gaussian_bpd, train_glow, uniform_bpd
from waveglow_data import images as image_data
from waveglow.glow import (Glow, GlowConfig, ReversePermutation, ShufflePermutation, Split, TopPrior, ZeroConv2d,
                           dequantize, flow_step, to_image)
from waveglow.glow.model import (attribute_direction, flatten_latents, interpolate, manifold, manipulate,
                                 unflatten_latents)


# ---- helpers -----------------------------------------------------------------------------------------------------
def randomise_(module: torch.nn.Module, seed: int = 0, std: float = 0.1) -> None:
    """Perturb every parameter in place so that no layer is an identity or a zero map.

    The noise is relative to each tensor's mean magnitude (absolute std for all-zero tensors: the zero-initialised
    convolutions, log-scales). Relative, because ActNorm after a small-weight conv holds log-scales of ~4: an
    absolute kick to its bias would be amplified ~50x, push the sigmoid scales to underflow and make the inverse
    lose all precision (a conditioning problem, not a bug).
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            magnitude = float(p.abs().mean())
            p.add_(std * (magnitude if magnitude > 0 else 1.0) * torch.randn(p.shape, generator=g, dtype=p.dtype))


def initialise_and_randomise(module: torch.nn.Module, x: torch.Tensor, seed: int = 0) -> torch.nn.Module:
    """float64, ActNorm's data-dependent init on x, then `randomise_`."""
    module.double()
    with torch.no_grad():
        module(x)
    randomise_(module, seed)
    return module


def per_item_jacobian_logdet(fn, x: torch.Tensor) -> torch.Tensor:
    """log|det d fn(x[b]) / d x[b]| for each item b (fn maps [1, ...] to something with x[b].numel() values)."""
    out = []
    for b in range(x.shape[0]):
        item = x[b: b + 1]
        jac = torch.autograd.functional.jacobian(lambda v: fn(v).reshape(-1), item).reshape(-1, item.numel())
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


def centred_inputs(shape, seed=0):
    """Dequantised-looking inputs in [-0.5, 0.5) (the domain of LogitTransform)."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) - 0.5


def coupling(channels, scale, hidden=6):
    n_a = channels // 2
    n_b = channels - n_a
    return AffineCoupling(CouplingNet(n_a, n_b if scale == "additive" else 2 * n_b, hidden), scale=scale)


LAYERS = {
    "coupling_affine": (lambda: coupling(4, "sigmoid"), (2, 4, 3, 2)),
    "coupling_additive": (lambda: coupling(4, "additive"), (2, 4, 2, 2)),
    "coupling_odd_channels": (lambda: coupling(5, "sigmoid"), (2, 5, 2, 2)),
    "reverse": (lambda: ReversePermutation(5), (2, 5, 2, 2)),
    "shuffle": (lambda: ShufflePermutation(6, torch.Generator().manual_seed(3)), (2, 6, 2, 2)),
    "logit": (lambda: LogitTransform(0.05), (2, 2, 2, 2)),
    **{f"step_{perm}_{cpl}": ((lambda perm=perm, cpl=cpl: flow_step(4, 6, perm, cpl, torch.Generator().manual_seed(1))),
                              (2, 4, 2, 2))
       for perm in ("reverse", "shuffle", "conv1x1", "lu") for cpl in ("additive", "affine")},
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_inverse_and_logdet(name):
    torch.manual_seed(0)
    build, shape = LAYERS[name]
    x = centred_inputs(shape)
    layer = initialise_and_randomise(build(), x)
    y, logdet = layer(x)
    assert y.shape == x.shape and logdet.shape == (shape[0],) and logdet.dtype == torch.float64
    assert not torch.allclose(y, x)
    assert torch.allclose(layer.inverse(y), x, atol=1e-10, rtol=0)
    expected = per_item_jacobian_logdet(lambda v: layer(v)[0], x)
    assert torch.allclose(logdet, expected, atol=1e-9, rtol=0), (logdet, expected)


def test_randomisation_reaches_zero_initialised_layers():
    """The perturbation really makes the coupling's zero conv (and so its shift/scale) non-trivial."""
    layer = coupling(4, "sigmoid")
    x = centred_inputs((2, 4, 2, 2))
    assert torch.count_nonzero(layer.net(x[:, :2].float())) == 0  # at init: zero output
    initialise_and_randomise(layer, x)
    assert layer.net(x[:, :2]).abs().min() > 0
    assert bool(layer.net.norm_in.initialized)


def test_zero_conv_starts_at_zero_and_scales_per_channel():
    conv = ZeroConv2d(3, 4)
    assert torch.count_nonzero(conv(torch.randn(2, 3, 5, 5))) == 0
    with torch.no_grad():
        conv.conv.bias.fill_(1.0)
        conv.log_scale.copy_(torch.tensor([0.0, 0.1, -0.2, 0.3]))
    out = conv(torch.zeros(1, 3, 2, 2))
    assert torch.allclose(out[0, :, 0, 0], torch.exp(3 * conv.log_scale.detach()))


def test_split_reconstructs_and_scores_with_its_prior():
    torch.manual_seed(0)
    split = Split(5).double()
    x = torch.randn(3, 5, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        for p in split.parameters():
            p.add_(0.2 * torch.randn_like(p))
    kept, z, log_prob = split(x)
    assert kept.shape == (3, 2, 2, 2) and z.shape == (3, 3, 2, 2)
    assert torch.equal(split.inverse(kept, z), x)
    # Independent: the conv by hand, then scipy's normal log-density.
    w = split.prior
    h = torch.nn.functional.conv2d(kept, w.conv.weight, w.conv.bias, padding=1) * torch.exp(
        3 * w.log_scale).view(1, -1, 1, 1)
    mean, log_std = h[:, :3].detach().numpy(), h[:, 3:].detach().numpy()
    expected = norm.logpdf(z.numpy(), mean, np.exp(log_std)).reshape(3, -1).sum(1)
    assert np.allclose(log_prob.detach().numpy(), expected, atol=1e-10)
    assert float(mean.std()) > 0  # the prior depends on the kept half
    # temperature 0 draws the mean
    assert torch.allclose(split.inverse(kept, None, temperature=0.0)[:, 2:], torch.from_numpy(mean))


def test_class_conditional_top_prior_mixture_and_head():
    torch.manual_seed(0)
    prior = TopPrior(2, 2, 2, learn_top=True, n_classes=3).double()
    with torch.no_grad():
        for p in prior.parameters():
            p.add_(0.3 * torch.randn_like(p))
    z = torch.randn(4, 2, 2, 2, dtype=torch.float64)
    per_class = np.stack([prior.log_prob(z, torch.full((4,), k)).detach().numpy() for k in range(3)], 1)
    assert np.ptp(per_class, axis=1).min() > 0  # classes really differ
    assert np.allclose(prior.log_prob(z).detach().numpy(), logsumexp(per_class, 1) - math.log(3), atol=1e-10)
    mean, _ = prior.params(torch.tensor([1]), 1, z)
    sample = prior.sample(1, z, torch.tensor([1]), temperature=0.0)
    assert torch.allclose(sample, mean)
    assert prior.class_logits(z).shape == (4, 3)


# ---- the model ---------------------------------------------------------------------------------------------------
def tiny_config(**kw):
    base = dict(in_channels=2, image_size=(4, 4), levels=2, depth=2, hidden=6, n_bins=17, seed=0)
    base.update(kw)
    return GlowConfig(**base)


@pytest.mark.parametrize("kw", [dict(permutation="lu", coupling="affine", logit_alpha=0.05, n_classes=3),
                                dict(permutation="shuffle", coupling="additive")])
def test_whole_glow_logdet_and_inverse_float64(kw):
    """u -> all latents is one bijection: its autograd log|det J| equals the summed log-dets of the model."""
    torch.manual_seed(0)
    model = Glow(tiny_config(**kw))
    u = centred_inputs((2, 2, 4, 4), seed=5)
    model.double()
    with torch.no_grad():
        model(centred_inputs((32, 2, 4, 4), seed=6))  # ActNorm init on a batch big enough for 1x1 top levels
    randomise_(model, seed=2)
    out = model(u)
    assert all(z.abs().max() < 100 for z in out.z_list)  # well-conditioned, so 1e-10 is a fair bar
    assert [tuple(z.shape[1:]) for z in out.z_list] == model.latent_shapes == [(4, 2, 2), (16, 1, 1)]
    expected = per_item_jacobian_logdet(lambda v: flatten_latents(model(v).z_list), u)
    assert torch.allclose(out.logdet, expected, atol=1e-8, rtol=0)
    assert torch.allclose(model.reverse(out.z_list), u, atol=1e-10, rtol=0)


def test_bits_per_dim_matches_independent_calculation():
    """Untrained (ActNorm-initialised) model: priors are N(0, 1), so log p(u) = sum log N(z) + log|det J|."""
    torch.manual_seed(0)
    model = Glow(tiny_config(permutation="conv1x1", logit_alpha=0.05)).double()
    images = torch.randint(0, 17, (3, 2, 4, 4)).double() / 16
    model.initialize(images, generator=torch.Generator().manual_seed(9))
    bpd = model.bits_per_dim(images, generator=torch.Generator().manual_seed(4))
    assert bpd.shape == (3,) and torch.isfinite(bpd).all()
    # Independent: redo the dequantisation by hand with the same noise, an autograd Jacobian, scipy's normal.
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    u = (torch.round(images * 16) + noise) / 17 - 0.5
    with torch.no_grad():
        z = flatten_latents(model(u).z_list).numpy()
    log_det = per_item_jacobian_logdet(lambda v: flatten_latents(model(v).z_list), u).numpy()
    log_p = norm.logpdf(z).sum(1) + log_det
    dims = 2 * 4 * 4
    expected = (-log_p + dims * math.log(17)) / (dims * math.log(2))
    assert np.allclose(bpd.detach().numpy(), expected, atol=1e-9)


def test_glow_reconstructs_float32_and_samples():
    torch.manual_seed(0)
    model = Glow(tiny_config(in_channels=1, image_size=(8, 8), levels=3, n_classes=4, logit_alpha=0.05))
    images = torch.randint(0, 17, (6, 1, 8, 8)).float() / 16
    model.initialize(images)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    u = dequantize(images, 17)
    out = model(u)
    assert (model.reverse(out.z_list) - u).abs().max() < 1e-5
    assert torch.equal(model.decode(model.encode(images)), images)
    samples = model.sample(5, 0.7, torch.tensor([0, 1, 2, 3, 0]), torch.Generator().manual_seed(0))
    assert samples.shape == (5, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    assert torch.equal(torch.round(samples * 16), samples * 16)  # on the 17-level grid
    cold = [model.sample(2, 0.0, torch.tensor([1, 1])) for _ in range(2)]
    assert torch.equal(cold[0], cold[1]) and torch.equal(cold[0][0], cold[0][1])  # T=0: the mode, no noise


def test_dequantize_and_to_image_round_trip():
    images = torch.arange(17.0).view(1, 1, 1, 17) / 16
    u = dequantize(images, 17, torch.Generator().manual_seed(0))
    assert u.min() >= -0.5 and u.max() < 0.5
    assert torch.equal(to_image(u, 17), images)
    assert torch.equal(to_image(dequantize(images, 17, noise="center"), 17), images)


def test_checkpoint_round_trip(tmp_path):
    model = Glow(tiny_config(permutation="shuffle", n_classes=3, class_weight=0.1))
    model.initialize(torch.rand(4, 2, 4, 4))
    save_glow(model, tmp_path / "ckpt", {"data": {"name": "digits"}})
    loaded, config = load_glow(tmp_path / "ckpt")
    assert config["data"] == {"name": "digits"} and glow_state_matches(model, loaded)
    assert not list(tmp_path.glob("ckpt/*.tmp"))
    x = torch.rand(2, 2, 4, 4)
    assert torch.equal(model.eval().bits_per_dim(x, generator=torch.Generator().manual_seed(0)),
                       loaded.bits_per_dim(x, generator=torch.Generator().manual_seed(0)))


def digits_unit(n=None):
    pytest.importorskip("sklearn")
    ds = image_data.load_digits()
    return (torch.from_numpy(image_data.to_unit(ds.train_images[:n], 17)), torch.from_numpy(ds.train_labels[:n]))


def test_short_training_lowers_the_loss(one_thread):
    torch.manual_seed(0)
    x, y = digits_unit(400)
    model = Glow(GlowConfig(image_size=(8, 8), levels=2, depth=2, hidden=16, n_bins=17, logit_alpha=0.05,
                            n_classes=10, class_weight=0.1))
    before = evaluate_bpd(model, x[:200], y[:200])
    result = train_glow(model, x, y, steps=60, batch_size=32, lr=2e-3, warmup=10, log_every=20)
    losses = [stats["bpd"] for _, stats in result.history]
    assert losses[-1] < losses[0] - 0.3
    assert evaluate_bpd(model, x[:200], y[:200]) < before - 0.3


# ---- latent operations, baselines --------------------------------------------------------------------------------
def test_latent_operations():
    shapes = [(2, 2, 2), (3, 1, 1)]
    z_list = [torch.randn(4, *s) for s in shapes]
    flat = flatten_latents(z_list)
    assert flat.shape == (4, 11)
    assert all(torch.equal(a, b) for a, b in zip(unflatten_latents(flat, shapes), z_list, strict=True))
    path = interpolate(flat[0], flat[1], 5)
    assert torch.allclose(path[0], flat[0]) and torch.allclose(path[-1], flat[1])
    assert torch.allclose(path[2], (flat[0] + flat[1]) / 2)
    grid = manifold(*flat, size=3).view(3, 3, -1)
    for (r, c), k in {(0, 0): 0, (0, 2): 1, (2, 0): 2, (2, 2): 3}.items():
        assert torch.allclose(grid[r, c], flat[k], atol=1e-6)
    direction = attribute_direction(flat[:2], flat[2:])
    assert torch.allclose(direction, flat[:2].mean(0) - flat[2:].mean(0))
    moved = manipulate(flat[:2], direction, [-1.0, 0.0, 1.0]).view(2, 3, -1)
    assert torch.allclose(moved[:, 1], flat[:2]) and torch.allclose(moved[1, 2], flat[1] + direction)


def test_baselines_against_direct_formulas():
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 4, (50, 3)), rng.integers(0, 4, (7, 3))
    counts = np.array([[np.sum(train[:, d] == k) + 1 for k in range(4)] for d in range(3)], float)
    p = counts / counts.sum(1, keepdims=True)
    expected = -np.mean([np.log2(p[d, test[i, d]]) for i in range(7) for d in range(3)])
    assert math.isclose(categorical_bpd(train, test, 4), expected, rel_tol=1e-12)
    assert uniform_bpd(17) == math.log2(17)
    # Gaussian: same dequantisation draws, scipy's multivariate normal.
    rng = np.random.default_rng(3)
    u_train = (train + rng.random(train.shape)) / 4 - 0.5
    u_test = (test + rng.random(test.shape)) / 4 - 0.5
    log_p = multivariate_normal(u_train.mean(0), np.cov(u_train, rowvar=False, bias=True)).logpdf(u_test)
    expected = np.mean((-log_p + 3 * math.log(4)) / (3 * math.log(2)))
    assert math.isclose(gaussian_bpd(train, test, 4, seed=3), expected, rel_tol=1e-9)


# ---- data --------------------------------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_idx_dataset_gz_and_plain(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 5),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3)}
    for i, (name, array) in enumerate(arrays.items()):
        if i % 2:
            (tmp_path / name).write_bytes(idx_bytes(array))
        else:
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(idx_bytes(array)))
    ds = image_data.load_mnist(tmp_path)
    assert ds.train_images.shape == (5, 1, 28, 28) and ds.n_levels == 256
    assert np.array_equal(ds.train_images[:, 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(ds.test_labels, arrays["t10k-labels-idx1-ubyte"])
    reduced = image_data.reduce_bits(ds, 5)
    assert reduced.n_levels == 32 and np.array_equal(reduced.train_images, ds.train_images >> 3)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(arrays["train-labels-idx1-ubyte"])[:-1])
    with pytest.raises(DataError, match="idx data has"):
        image_data.load_mnist(tmp_path)
    with pytest.raises(DataError, match="not an idx file"):
        image_data.parse_idx(b"\x01\x02\x03\x04")


def test_fashion_mnist_missing_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(image_data, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        image_data.load_fashion_mnist()


def test_cifar_binary_from_tar_and_directory(tmp_path):
    rng = np.random.default_rng(1)
    blobs = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, (2, 1))
        pixels = rng.integers(0, 256, (2, 3072))
        blobs[name] = np.concatenate([labels, pixels], 1).astype(np.uint8).tobytes()
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    from_tar = image_data.load_cifar10(archive)
    folder = tmp_path / "extracted" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    from_dir = image_data.load_cifar10(tmp_path / "extracted")
    assert from_tar.train_images.shape == (10, 3, 32, 32) and from_tar.test_images.shape == (2, 3, 32, 32)
    assert np.array_equal(from_tar.train_images, from_dir.train_images)
    first = np.frombuffer(blobs["data_batch_1.bin"], np.uint8)
    assert from_tar.train_labels[0] == first[0]
    assert np.array_equal(from_tar.train_images[0, 1].ravel(), first[1 + 1024: 1 + 2048])  # green plane
    with pytest.raises(DataError, match="pickle"):
        image_data.load_cifar10(tmp_path / "cifar-10-python.tar.gz")


def test_digits_split_is_fixed_and_disjoint():
    pytest.importorskip("sklearn")
    a, b = image_data.load_digits(), image_data.load_digits()
    assert np.array_equal(a.test_images, b.test_images) and a.n_levels == 17
    assert len(a.train_images) + len(a.test_images) == 1797 and len(a.test_images) == round(0.2 * 1797)
    assert a.train_images.max() == 16
    mask = image_data.hashed_test_mask([str(i) for i in range(1797)], 0.2)
    assert mask.sum() == len(a.test_images)
    assert not np.array_equal(mask, image_data.hashed_test_mask([str(i) for i in range(1797)], 0.2, seed=1))


def test_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(np.full((6, 6, 3), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = image_data.load_image_folder(tmp_path, size=4, test_fraction=0.2)
    assert ds.class_names == ["cats", "dogs"] and ds.train_images.shape[1:] == (3, 4, 4)
    assert len(ds.train_images) == 8 and len(ds.test_images) == 2


# ---- the command -------------------------------------------------------------------------------------------------
def run_glow(*argv):
    from waveglow.commands import glow

    parser = argparse.ArgumentParser()
    glow.add_arguments(parser)
    return glow.run(parser.parse_args([str(a) for a in argv]))


def test_command_train_then_explore(tmp_path, capsys, one_thread):
    # `run` sets torch's thread count (--threads, default 1); the fixture restores it afterwards
    pytest.importorskip("sklearn")
    pytest.importorskip("PIL")
    ckpt = tmp_path / "digits"
    assert run_glow("train", "--data", "digits", "-L", 2, "-K", 1, "--hidden", 8, "--steps", 3, "--conditional",
                    "--max-train", 200, "--max-test", 50, "--log-every", 3, "--out", ckpt) == 0
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "samples_t0.7.png").is_file()
    record = json.loads((ckpt / "config.json").read_text())
    assert record["data"]["name"] == "digits" and record["model"]["n_classes"] == 10
    assert math.isfinite(record["training"]["test_bpd"])
    capsys.readouterr()
    assert run_glow("eval", "-c", ckpt, "--max-test", 40, "--json") == 0
    assert set(json.loads(capsys.readouterr().out)) >= {"test_bpd_given_label", "test_bpd_marginal"}
    outputs = {
        "sample": ["--per-class", "--n", 3],
        "interpolate": ["--pairs", "0:1", "--steps", 4],
        "manifold": ["--grid", 3],
        "manipulate": ["--attribute", "class", "--positive", 1, "--negative", 7, "--alphas", 3],
    }
    from PIL import Image

    for action, extra in outputs.items():
        png = tmp_path / f"{action}.png"
        assert run_glow(action, "-c", ckpt, "--out", png, *extra) == 0
        with Image.open(png) as img:
            assert img.size[0] > 8 * 3
    from waveglow.common.errors import UserError

    with pytest.raises(UserError, match="out of range"):
        run_glow("manifold", "-c", ckpt, "--indices", 0, 1, 2, 10 ** 6, "--out", tmp_path / "x.png")
