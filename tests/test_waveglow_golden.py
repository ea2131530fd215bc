"""WaveGlow against NVIDIA's own outputs (tests/fixtures/golden, produced by NVIDIA/waveglow @ 8afb643)."""
import numpy as np
import pytest
import torch

from waveglow import WaveGlow, WaveGlowLoss

from conftest import GOLDEN

IO = np.load(GOLDEN / "waveglow_io.npz")
FILES = ["waveglow_nvidia_train_style.pt", "waveglow_dle_style.pt"]


def t(name):
    return torch.from_numpy(IO[name])


@pytest.fixture(scope="module", params=FILES)
def model(request):
    return WaveGlow.from_pretrained(GOLDEN / request.param, map_location="cpu")


def test_config_inferred_from_shapes(model):
    c = model.config
    assert (c.n_mel_channels, c.n_flows, c.n_group, c.n_early_every, c.n_early_size) == (16, 6, 8, 2, 2)
    assert (c.n_layers, c.n_channels, c.kernel_size) == (2, 32, 3)
    assert [conv.weight.shape[0] for conv in model.convinv] == [8, 8, 6, 6, 4, 4]


@pytest.mark.parametrize("key,sigma", [("infer_audio", float(IO["infer_sigma"])), ("infer_audio_sigma1", 1.0),
                                       ("infer_audio_sigma0", 0.0), ("infer_audio_after_remove_weightnorm",
                                                                     float(IO["infer_sigma"]))])
def test_infer_with_given_latent(model, key, sigma):
    audio = model.infer(t("infer_mel"), sigma=sigma, z=t("infer_z"))
    assert audio.shape == (1, 24 * 256)
    assert (audio - t(key)).abs().max().item() <= 1e-4


def test_infer_accepts_unbatched_mel(model):
    audio = model.infer(t("infer_mel")[0], sigma=0.6, z=t("infer_z"))
    assert torch.allclose(audio, t("infer_audio"), atol=1e-4)


def test_seeded_sampling_draws_nvidias_noise(model):
    # NVIDIA's order of draws (final channels first, then early noise from the last flow back), seed 31 on CPU.
    torch.manual_seed(31)
    audio = model.infer(t("infer_mel"), sigma=0.6)
    assert (audio - t("infer_audio")).abs().max().item() <= 1e-4
    g = torch.Generator().manual_seed(31)
    assert torch.equal(model.draw_latent(1, 768, g), t("infer_z"))


def test_forward_z_logdet_and_loss(model):
    z, logdet = model(t("train_audio"), t("train_mel"))
    assert z.shape == (2, 8, 512) and logdet.shape == (2,)
    assert (z - t("train_z")).abs().max().item() <= 1e-4
    expected_total = float(IO["train_log_s_total"]) + float(IO["train_log_det_W_total"])
    assert abs(logdet.sum().item() - expected_total) <= 1e-3
    loss = WaveGlowLoss(sigma=1.0)((z, logdet))
    assert abs(loss.item() - float(IO["train_loss_sigma1"])) <= 1e-6
    # The loss leaves its inputs alone (NVIDIA's writes the total into log_det_W_list[0]).
    logdet_before = logdet.clone()
    WaveGlow.loss(z, logdet)
    assert torch.equal(logdet, logdet_before)


def test_per_flow_log_s_and_log_det_w(model):
    """Walk the flows as forward does and compare each coupling's log s and each 1x1 conv's log|det W|."""
    audio, mel = t("train_audio"), t("train_mel")
    from waveglow.flows.squeeze import group_samples

    cond = model.condition(mel, audio.shape[1])
    x = group_samples(audio, 8)
    for k in range(model.config.n_flows):
        if model.config.is_early_output(k):
            x = x[:, 2:]
        x, conv_logdet = model.convinv[k](x)
        batch_total = conv_logdet.sum().item()  # NVIDIA: batch * n_groups * logdet(W)
        assert abs(batch_total - float(IO["train_log_det_W"][k])) <= 1e-3
        n_a = x.shape[1] // 2
        log_s, _ = model.couplings[k].log_scale_and_shift(x[:, :n_a], cond)
        assert (log_s - t(f"train_log_s_{k}")).abs().max().item() <= 1e-4
        x, _ = model.couplings[k](x, cond)


def test_forward_of_infer_returns_sigma_z(model):
    audio = model.infer(t("infer_mel"), sigma=0.6, z=t("infer_z"))
    mel = torch.cat([t("infer_mel"), t("infer_mel")[..., -1:]], 2)  # forward wants frames + 1 of context
    z, _ = model(audio, mel)
    assert (z - 0.6 * t("infer_z")).abs().max().item() <= 1e-5


def test_both_formats_load_identical_weights():
    a = WaveGlow.from_pretrained(GOLDEN / FILES[0]).state_dict()
    b = WaveGlow.from_pretrained(GOLDEN / FILES[1]).state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_weight_norm_folded_from_g_and_v_not_the_stale_attribute(model):
    # The pickled plain `weight` attributes differ from g * v / ||v|| by up to 1.27; reading them would be wrong.
    from waveglow.common.safe_loading import load_torch_file

    raw = load_torch_file(GOLDEN / FILES[0])["model"]
    start = raw.get("_modules")["WN"].get("_modules")["0"].get("_modules")["start"]
    g, v = start.get("_parameters")["weight_g"], start.get("_parameters")["weight_v"]
    stale = start.state["weight"]
    folded = model.couplings[0].net.start.weight
    assert torch.equal(folded, torch._weight_norm(v, g, 0))
    assert (folded - stale).abs().max() > 0.01


def test_save_pretrained_round_trip_is_bit_identical(model, tmp_path):
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    again = WaveGlow.from_pretrained(tmp_path / "ckpt")
    assert again.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    z = t("infer_z")
    assert torch.equal(again.infer(t("infer_mel"), 0.6, z), model.infer(t("infer_mel"), 0.6, z))


def test_wrong_mel_shape_is_a_clear_error(model):
    with pytest.raises(ValueError, match=r"\[B, 16, frames\]"):
        model.infer(torch.zeros(1, 80, 10))
    with pytest.raises(ValueError, match="z must be"):
        model.infer(t("infer_mel"), z=torch.zeros(1, 8, 10))


def snr_db(reference, test):
    return 10 * torch.log10(reference.pow(2).sum() / (test - reference).pow(2).sum()).item()


def test_bf16_network_precision_is_accurate_and_scoped(model):
    fp32 = model.infer(t("infer_mel"), sigma=0.6, z=t("infer_z"))
    bf16 = model.infer(t("infer_mel"), sigma=0.6, z=t("infer_z"), precision="bf16")
    assert bf16.dtype == torch.float32
    assert 30 <= snr_db(fp32, bf16) < 200  # really computed in bf16 (not bit-equal), yet >= 30 dB
    assert not any(hasattr(c, "network_dtype") for c in model.couplings)  # an argument, never stored on a layer
    assert torch.equal(model.infer(t("infer_mel"), sigma=0.6, z=t("infer_z")), fp32)  # None: fp32
    assert torch.equal(model.infer(t("infer_mel"), sigma=0.6, z=t("infer_z"), precision="fp32"), fp32)
    with pytest.raises(ValueError, match="precision"):
        model.infer(t("infer_mel"), precision="int8")
