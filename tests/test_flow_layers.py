"""Every flow layer: exact inverse and log-det = log|det| of the autograd Jacobian (float64, randomised weights).
Every subclass of `waveglow.flows.Flow` in the package has a case here (test_every_flow_subclass_has_a_case)."""
import importlib
import math
import pkgutil

import pytest
import torch

from waveglow import (WN, ActNorm, AffineCoupling, FlowSequential, GroupSamples, InvertibleConv1x1,
                      LUInvertibleConv1x1, Squeeze2d, WaveGlow, WaveGlowConfig)
from waveglow.common.errors import ConfigError
from waveglow.flows.flow import Flow
from waveglow.flows.gaussian import DiagonalGaussian, StandardNormal
from waveglow.glow import ChannelPermutation, LogitTransform, ReversePermutation, ShufflePermutation


@pytest.fixture(autouse=True)
def _float64():
    # Per test, never at import: a module-level default dtype would leak into every module collected after it.
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def randomise(module: torch.nn.Module, seed: int = 0, std: float = 0.3) -> torch.nn.Module:
    """Perturb every parameter (zero-initialised ends, identity-ish matrices too) so nothing is an identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module.double()


def per_item_jacobian_logdet(layer, x, cond=None):
    """log|det J| of the map x[b] -> y[b] for each item b, from autograd."""
    out = []
    for b in range(x.shape[0]):
        item = x[b: b + 1]
        c = None if cond is None else cond[b: b + 1]
        jac = torch.autograd.functional.jacobian(lambda v: layer(v, c)[0].reshape(-1), item).reshape(
            -1, item.numel())
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


def wn_coupling(channels=4, cond_channels=3, scale="exp"):
    n_a = channels // 2
    out = 2 * (channels - n_a) if scale != "additive" else channels - n_a
    return AffineCoupling(WN(n_a, cond_channels, out, n_layers=2, n_channels=5, kernel_size=3), scale=scale)


class ConvNet(torch.nn.Module):
    """A tiny unconditioned 2-D coupling network (cond ignored), to run the coupling on images."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x, cond=None):
        return self.conv(torch.tanh(x))


CASES = {
    "conv1x1_1d": (lambda: InvertibleConv1x1(4), (2, 4, 5), None),
    "conv1x1_2d": (lambda: InvertibleConv1x1(3), (2, 3, 2, 2), None),
    "lu_conv1x1_1d": (lambda: LUInvertibleConv1x1(4), (2, 4, 5), None),
    "lu_conv1x1_2d": (lambda: LUInvertibleConv1x1(3), (2, 3, 2, 2), None),
    "actnorm_1d": (lambda: ActNorm(4), (2, 4, 5), None),
    "actnorm_2d": (lambda: ActNorm(3), (2, 3, 2, 2), None),
    "coupling_wn_exp": (lambda: wn_coupling(4), (2, 4, 6), (2, 3, 6)),
    "coupling_wn_odd_channels": (lambda: wn_coupling(5), (2, 5, 6), (2, 3, 6)),
    "coupling_wn_sigmoid": (lambda: wn_coupling(4, scale="sigmoid"), (2, 4, 6), (2, 3, 6)),
    "coupling_wn_additive": (lambda: wn_coupling(4, scale="additive"), (2, 4, 6), (2, 3, 6)),
    "coupling_conv2d_affine": (lambda: AffineCoupling(ConvNet(2, 4), "sigmoid"), (2, 4, 2, 2), None),
    "group_samples": (lambda: GroupSamples(4), (2, 12), None),
    "squeeze2d": (lambda: Squeeze2d(2), (2, 2, 4, 2), None),
    "sequential": (lambda: FlowSequential(ActNorm(4), LUInvertibleConv1x1(4), wn_coupling(4), InvertibleConv1x1(4),
                                          wn_coupling(4, scale="sigmoid")), (2, 4, 6), (2, 3, 6)),
    # image Glow's own flow layers (waveglow.glow)
    "channel_permutation": (lambda: ChannelPermutation(torch.tensor([2, 0, 3, 1])), (2, 4, 2, 2), None),
    "reverse_permutation": (lambda: ReversePermutation(3), (2, 3, 2, 2), None),
    "shuffle_permutation": (lambda: ShufflePermutation(5, torch.Generator().manual_seed(2)), (2, 5, 3), None),
    "logit": (lambda: LogitTransform(0.05), (2, 2, 2, 2), None, lambda x: 0.45 * torch.tanh(x)),  # in [-0.5, 0.5)
}


def make_case(name):
    build, x_shape, cond_shape, *x_map = CASES[name]
    torch.manual_seed(1)
    layer = build().double()
    x = torch.randn(x_shape)
    if x_map:
        x = x_map[0](x)
    cond = None if cond_shape is None else torch.randn(cond_shape)
    layer(x, cond)  # ActNorm's data-dependent init happens here, before randomising
    randomise(layer)
    return layer, x, cond


@pytest.mark.parametrize("name", sorted(CASES))
def test_inverse_is_exact(name):
    layer, x, cond = make_case(name)
    y, _ = layer(x, cond)
    assert not torch.allclose(y.reshape(-1), x.reshape(-1)[: y.numel()])  # randomised: not an identity
    assert torch.allclose(layer.inverse(y, cond), x, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_logdet_matches_autograd_jacobian(name):
    layer, x, cond = make_case(name)
    _, logdet = layer(x, cond)
    assert logdet.shape == (x.shape[0],)
    expected = per_item_jacobian_logdet(layer, x, cond)
    assert torch.allclose(logdet, expected, rtol=0, atol=1e-9), (logdet, expected)


def flow_classes() -> set[type]:
    """Every concrete subclass of Flow defined in the package, found through Flow.__subclasses__ (recursively) after
    importing every module of the rooms that hold flows."""
    for package in ("waveglow.flows", "waveglow.glow", "waveglow.vocoder"):
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            importlib.import_module(info.name)
    found, stack = set(), [Flow]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("waveglow.") and not getattr(sub, "__abstractmethods__", None):
                found.add(sub)
    return found


def test_every_flow_subclass_has_a_case():
    """So the two tests above (exact inverse, log-det = autograd Jacobian) cover every flow layer there is."""
    classes = flow_classes()
    assert {ActNorm, AffineCoupling, FlowSequential, GroupSamples, InvertibleConv1x1, LUInvertibleConv1x1,
            Squeeze2d, ChannelPermutation, LogitTransform} <= classes
    covered = {type(build()) for build, *_ in CASES.values()}
    missing = sorted(c.__qualname__ for c in classes - covered)
    assert not missing, f"Flow subclasses without a case in CASES: {missing}"


def test_items_are_independent():
    # Each item's log-det depends on that item only (no batch statistics leak in after ActNorm's init).
    layer, x, cond = make_case("sequential")
    _, both = layer(x, cond)
    _, first = layer(x[:1], cond[:1])
    assert torch.allclose(both[:1], first, atol=1e-12)


def test_actnorm_initialises_from_first_batch_only():
    norm = ActNorm(3).double()
    x = 5 + 3 * torch.randn(4, 3, 50)
    y, _ = norm(x)
    assert torch.allclose(y.mean((0, 2)), torch.zeros(3), atol=1e-10)
    assert torch.allclose(y.std((0, 2)), torch.ones(3), atol=1e-4)
    before = norm.bias.clone()
    norm(torch.randn(4, 3, 50))
    assert torch.equal(norm.bias, before)
    # A reloaded ActNorm is initialised: it must not re-init on its first batch.
    fresh = ActNorm(3).double()
    fresh.load_state_dict(norm.state_dict())
    fresh(torch.randn(2, 3, 5))
    assert torch.equal(fresh.bias, before)


def tiny_waveglow_config(**kw):
    base = dict(n_mel_channels=3, n_flows=4, n_group=4, n_early_every=2, n_early_size=1, n_layers=2, n_channels=6,
                kernel_size=3, upsample_kernel_size=16, hop_length=8)
    base.update(kw)
    return WaveGlowConfig(**base)


@pytest.mark.parametrize("permutation,conditioning", [("conv1x1", "audio"), ("lu", "audio"), ("conv1x1", "group")])
def test_whole_waveglow_logdet_and_inverse(permutation, conditioning):
    """The full model is one flow audio -> z: its log-det is the autograd Jacobian's, and infer inverts it."""
    torch.manual_seed(3)
    extra = dict(upsample_kernel_size=8) if conditioning == "group" else {}
    config = tiny_waveglow_config(permutation=permutation, conditioning=conditioning, **extra)
    model = randomise(WaveGlow(config), seed=4, std=0.2)
    audio = torch.randn(2, 32)
    mel = torch.randn(2, 3, 32 // 8 + 1)
    z, logdet = model(audio, mel)
    assert z.shape == (2, 4, 8)
    expected = torch.stack([
        torch.linalg.slogdet(torch.autograd.functional.jacobian(
            lambda a: model(a, mel[b: b + 1])[0].reshape(-1), audio[b: b + 1]).reshape(32, 32))[1]
        for b in range(2)])
    assert torch.allclose(logdet, expected, atol=1e-9)
    # infer with sigma=1 and the forward z reproduces the audio (both given the audio's 4 frames: "group"
    # conditioning also looks one frame ahead, so a 5th frame would change the last steps' conditioning)
    recon = model.infer(mel[..., :4], sigma=1.0, z=model(audio, mel[..., :4])[0])
    assert torch.allclose(recon, audio, atol=1e-10)


def test_group_conditioning_is_mel_rate_upsampled_and_centred():
    """'group': n_mel conditioning channels at the grouped rate; step t depends on the frames near it only."""
    config = tiny_waveglow_config(conditioning="group", upsample_kernel_size=8)  # stride 8 / 4 = 2 steps per frame
    assert (config.upsample_stride, config.cond_channels) == (2, 3)
    model = randomise(WaveGlow(config), seed=1)
    mel = torch.randn(1, 3, 10)
    cond = model.condition(mel, 10 * 8)
    assert cond.shape == (1, 3, 20)
    bumped = mel.clone()
    bumped[..., 5] += 1.0  # frame 5 is centred on step 10 (sample 40)
    changed = (model.condition(bumped, 80) - cond).abs().sum(1)[0] > 0
    # steps 6..13: centres 4 t + 1.5 = 25.5 .. 53.5 samples, within 16 (K / 2 steps) of sample 40 either side
    assert changed.nonzero().flatten().tolist() == list(range(6, 14))
    with pytest.raises(ConfigError, match="upsample_kernel_size"):
        tiny_waveglow_config(conditioning="group", upsample_kernel_size=3)
    with pytest.raises(ConfigError, match="conditioning"):
        tiny_waveglow_config(conditioning="frames")


@pytest.mark.parametrize("n_layers,kernel_size", [(3, 3), (8, 3), (4, 5)])
def test_wn_tiled_inference_equals_whole_sequence(n_layers, kernel_size):
    """The cache-friendly wavefront (used for long inference) computes exactly the whole-sequence WN, padding
    included, for sequences shorter than one dilation, tiles of one step and tiles longer than the sequence."""
    torch.manual_seed(0)
    net = randomise(WN(3, 7, 6, n_layers, 16, kernel_size).double(), std=0.3).eval()
    for steps in (1, 5, 37, 300):
        x, cond = torch.randn(2, 3, steps, dtype=torch.float64), torch.randn(2, 7, steps, dtype=torch.float64)
        with torch.no_grad():
            net.tile_steps = None
            whole = net(x, cond)
            for tile in (1, 3, 64, 5000):
                assert torch.allclose(net.forward_tiled(x, cond, tile), whole, atol=1e-12, rtol=0)
            net.tile_steps = 16  # what forward itself does beyond tile_steps
            assert torch.allclose(net(x, cond), whole, atol=1e-12, rtol=0)
        assert torch.allclose(net(x, cond), whole, atol=1e-12, rtol=0)  # with autograd on: the plain path


@pytest.mark.parametrize("conditioning", ["audio", "group"])
def test_conditioning_built_in_pieces_equals_the_whole(conditioning):
    """Long mels are upsampled piece by piece (memory); every step sees the same frames as in one pass."""
    extra = dict(upsample_kernel_size=8) if conditioning == "group" else {}
    model = randomise(WaveGlow(tiny_waveglow_config(conditioning=conditioning, **extra)), seed=2)
    mel = torch.randn(2, 3, 23, dtype=torch.float64)
    whole = model.condition(mel, 23 * 8)
    for piece in (1, 4, 7, 23, 50):
        assert torch.allclose(model.condition_in_pieces(mel, torch.float64, piece), whole, atol=1e-12, rtol=0)


# ---- the Gaussian base distributions (waveglow.flows.gaussian) --------------------------------------------------
@pytest.mark.parametrize("sigma", [1.0, 0.6, 2.5])
def test_standard_normal_log_prob_equals_torch_normal(sigma):
    z = torch.randn(3, 4, 7, generator=torch.Generator().manual_seed(5))
    expected = torch.distributions.Normal(0.0, sigma).log_prob(z).flatten(1).sum(1)
    prior = StandardNormal(sigma)
    assert prior.log_prob(z).shape == (3,)
    assert torch.allclose(prior.log_prob(z), expected, rtol=0, atol=1e-12)
    # the NLL of a flow, -sum log p(z) - sum logdet, in NVIDIA's arrangement; without the constant it is the
    # numerator of NVIDIA's loss
    logdet = torch.randn(3)
    nll = prior.nll(z, logdet)
    assert torch.allclose(nll, -expected.sum() - logdet.sum(), rtol=0, atol=1e-10)
    assert torch.allclose(prior.nll(z, logdet, constant=False), nll - prior.log_normalizer(z.numel()),
                          rtol=0, atol=1e-10)
    assert WaveGlow.loss(z, logdet, sigma) == prior.nll(z, logdet, constant=False, dtype=torch.float32) / z.numel()


def test_diagonal_gaussian_log_prob_equals_torch_normal():
    g = torch.Generator().manual_seed(6)
    mean, log_std, z = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(3))
    expected = torch.distributions.Normal(mean, log_std.exp()).log_prob(z).flatten(1).sum(1)
    assert torch.allclose(DiagonalGaussian(mean, log_std).log_prob(z), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampling_at_a_temperature_has_its_std(temperature):
    z = StandardNormal(0.5).sample((4, 50_000), temperature, torch.Generator().manual_seed(7))
    assert z.shape == (4, 50_000) and z.dtype == torch.float64
    assert abs(z.std().item() - 0.5 * temperature) < 0.005 and abs(z.mean().item()) < 0.005
    mean, log_std = torch.full((2, 100_000), 3.0), torch.full((2, 100_000), math.log(0.2))
    z = DiagonalGaussian(mean, log_std).sample(temperature, torch.Generator().manual_seed(8))
    assert abs(z.std().item() - 0.2 * temperature) < 0.002 and abs(z.mean().item() - 3.0) < 0.002
