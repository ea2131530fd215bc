"""Loading every supported checkpoint layout for configs other than the golden one, and the CLI around it."""
import json
import zipfile

import pytest
import torch

from waveglow import CheckpointError, WaveGlow, WaveGlowConfig
from waveglow.cli import main as cli_main

from nvidia_layout import dle_state_dict, fake_glow_module, nvidia_state_dict, retag_storages_cuda, save_nvidia_pickle

# Nothing may assume 80 mels or 12 flows: odd sizes everywhere.
CONFIGS = {
    "small_a": WaveGlowConfig(n_mel_channels=10, n_flows=5, n_group=6, n_early_every=3, n_early_size=2, n_layers=3,
                              n_channels=12, kernel_size=5, upsample_kernel_size=96, hop_length=48),
    "no_early": WaveGlowConfig(n_mel_channels=7, n_flows=3, n_group=4, n_early_every=4, n_early_size=2, n_layers=1,
                               n_channels=8, kernel_size=3, upsample_kernel_size=64, hop_length=16),
    "odd_split": WaveGlowConfig(n_mel_channels=5, n_flows=4, n_group=8, n_early_every=1, n_early_size=1, n_layers=2,
                                n_channels=6, kernel_size=3, upsample_kernel_size=64, hop_length=32),
}


def random_model(config, seed=0, std=0.1):
    torch.manual_seed(seed)
    model = WaveGlow(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn_like(p))
    return model.eval()


def check_same(loaded, model, frames=6, atol=1e-5):
    assert loaded.config.to_dict() == model.config.to_dict() or (
        model.config.n_early_every >= model.config.n_flows)  # no early output: n_early_* are not in the shapes
    mel = torch.randn(1, model.config.n_mel_channels, frames)
    z = model.draw_latent(1, frames * model.config.hop_length // model.config.n_group, torch.Generator().manual_seed(0))
    diff = (loaded.infer(mel, 0.8, z) - model.infer(mel, 0.8, z)).abs().max().item()
    assert diff <= atol, diff


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("legacy_format", [False, True])
def test_nvidia_pickled_module(tmp_path, name, legacy_format):
    model = random_model(CONFIGS[name])
    path = tmp_path / "waveglow.pt"
    save_nvidia_pickle(model, path, legacy_format=legacy_format, stale=True)
    loaded = WaveGlow.from_pretrained(path)
    check_same(loaded, model)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_dle_state_dict(tmp_path, name):
    model = random_model(CONFIGS[name])
    path = tmp_path / "dle.pt"
    # DLE's config holds NVIDIA's constructor keys; the hop length (hard-coded 256 there) rides along here
    # because these configs use other hops.
    torch.save({"epoch": 3, "config": model.config.to_dict(), "state_dict": dle_state_dict(model)}, path)
    loaded = WaveGlow.from_pretrained(path)
    assert loaded.config == model.config
    check_same(loaded, model)


def test_dle_config_contradicting_tensors_is_rejected(tmp_path):
    model = random_model(CONFIGS["small_a"])
    path = tmp_path / "dle.pt"
    torch.save({"config": {"n_mel_channels": 80, "n_flows": 5}, "state_dict": dle_state_dict(model)}, path)
    with pytest.raises(CheckpointError, match="n_mel_channels=80"):
        WaveGlow.from_pretrained(path)


def test_cuda_tagged_storages_load_on_cpu(tmp_path):
    model = random_model(CONFIGS["small_a"])
    path = tmp_path / "gpu.pt"
    save_nvidia_pickle(model, path, cuda_tag=True)
    with zipfile.ZipFile(path) as zf:
        pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        assert b"cuda:0" in zf.read(pkl)
    with fake_glow_module(), pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=False)  # plain torch.load on a CPU machine fails …
    check_same(WaveGlow.from_pretrained(path), model)  # … ours maps to CPU


def test_old_nvidia_layout_res_and_skip_layers(tmp_path):
    """Pre-fusion NVIDIA WN: separate res_layers (all but last) / skip_layers and per-layer cond_layers."""
    # A bare state dict cannot tell the hop length: NVIDIA's hard-coded 256 is assumed, as in their files.
    config = WaveGlowConfig(n_mel_channels=6, n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=3,
                            n_channels=10)
    model = random_model(config)
    c, L = model.config.n_channels, model.config.n_layers
    old = {}
    for key, value in nvidia_state_dict(model, weight_norm=False).items():
        if ".res_skip_layers." in key:
            prefix, rest = key.split(".res_skip_layers.")
            i, name = rest.split(".")
            if int(i) < L - 1:
                old[f"{prefix}.res_layers.{i}.{name}"] = value[:c]
                old[f"{prefix}.skip_layers.{i}.{name}"] = value[c:]
            else:
                old[f"{prefix}.skip_layers.{i}.{name}"] = value
        elif ".cond_layer." in key:
            prefix, name = key.split(".cond_layer.")
            for i in range(L):
                old[f"{prefix}.cond_layers.{i}.{name}"] = value[2 * c * i: 2 * c * (i + 1)]
        else:
            old[key] = value
    torch.save({"state_dict": old}, tmp_path / "old.pt")
    check_same(WaveGlow.from_pretrained(tmp_path / "old.pt"), model, atol=0)


def test_official_full_size_config_loads_and_infers_one_second(tmp_path):
    """NVIDIA's LJSpeech config (12 flows, 8 layers, 256 channels, 80 mels) from a full-size DLE state dict."""
    config = WaveGlowConfig()
    assert (config.n_flows, config.n_layers, config.n_channels, config.n_mel_channels) == (12, 8, 256, 80)
    model = random_model(config, std=1e-3)  # small: random 256-channel couplings would blow the audio up
    path = tmp_path / "dle_full.pt"
    state = dle_state_dict(model)
    assert len(state) == 12 * (3 * 8 + 3 * 8 + 3 + 2 + 3 * 8) + 2 + 12  # 3 tensors per weight-normed conv
    torch.save({"epoch": 1, "config": config.to_dict() | {}, "state_dict": state}, path)
    del state
    loaded = WaveGlow.from_pretrained(path)
    assert loaded.config == config and loaded.num_parameters() == model.num_parameters()
    mel = torch.randn(1, 80, 87)  # 87 frames * 256 = 1.01 s at 22050 Hz
    z = model.draw_latent(1, 87 * 32, torch.Generator().manual_seed(1))
    audio = loaded.infer(mel, sigma=0.666, z=z)
    assert audio.shape == (1, 87 * 256) and torch.isfinite(audio).all()
    assert 1e-3 < audio.abs().max() < 100
    assert torch.allclose(audio, model.infer(mel, sigma=0.666, z=z), atol=1e-4)


def test_save_pretrained_refuses_unfolded_weight_norm_and_reloads_after_removal(tmp_path):
    model = random_model(CONFIGS["small_a"]).apply_weight_norm()
    with pytest.raises(ValueError, match="remove_weight_norm"):
        model.save_pretrained(tmp_path / "x")
    model.remove_weight_norm().save_pretrained(tmp_path / "x")
    check_same(WaveGlow.from_pretrained(tmp_path / "x"), model, atol=0)


@pytest.mark.parametrize("content,match", [
    (b"", "empty file"),
    (b"not a checkpoint at all", "not a readable PyTorch checkpoint"),
])
def test_unreadable_files(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        WaveGlow.from_pretrained(path)


def test_truncated_file(tmp_path):
    model = random_model(CONFIGS["small_a"])
    path = tmp_path / "w.pt"
    save_nvidia_pickle(model, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="w.pt"):
        WaveGlow.from_pretrained(path)


def test_our_format_errors_name_the_file(tmp_path):
    model = random_model(CONFIGS["small_a"])
    model.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg | {"n_flowz": 3}))
    with pytest.raises(CheckpointError, match="unknown field 'n_flowz'"):
        WaveGlow.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg | {"n_flows": 4}))
    with pytest.raises(CheckpointError, match="missing|shape"):
        WaveGlow.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        WaveGlow.from_pretrained(tmp_path / "m")
    with pytest.raises(CheckpointError, match="missing config.json"):
        WaveGlow.from_pretrained(tmp_path)


def test_cli_info_and_convert(tmp_path, capsys):
    from conftest import GOLDEN

    assert cli_main(["info", str(GOLDEN / "waveglow_nvidia_train_style.pt")]) == 0
    out = capsys.readouterr().out
    assert "source format: nvidia" in out and "456,924" in out and "n_mel_channels: 16" in out
    assert cli_main(["convert", str(GOLDEN / "waveglow_dle_style.pt"), str(tmp_path / "c")]) == 0
    assert cli_main(["info", "--json", str(tmp_path / "c")]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["source_format"] == "ours" and report["config"]["n_flows"] == 6
    # refuses to overwrite without --overwrite; errors are one line and exit 2
    assert cli_main(["convert", str(GOLDEN / "waveglow_dle_style.pt"), str(tmp_path / "c")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(["info", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.pt" in err


def test_group_conditioning_round_trips_and_is_recognised_from_shapes(tmp_path):
    config = WaveGlowConfig(n_mel_channels=10, n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2,
                            n_channels=12, kernel_size=3, upsample_kernel_size=96, hop_length=256,
                            conditioning="group")
    model = random_model(config)
    model.save_pretrained(tmp_path / "ours")
    check_same(WaveGlow.from_pretrained(tmp_path / "ours"), model, atol=0)
    # a DeepLearningExamples-style file without our field: the cond conv's width (10, not 80) says "group"
    legacy = {k: v for k, v in config.to_dict().items() if k != "conditioning"}
    torch.save({"config": legacy, "state_dict": dle_state_dict(model)}, tmp_path / "dle.pt")
    loaded = WaveGlow.from_pretrained(tmp_path / "dle.pt")
    assert loaded.config == config
    check_same(loaded, model)


def test_convert_to_half_precision_storage(tmp_path, capsys):
    """`convert --dtype fp16` halves the file; the weights load back as fp32 and vocode like the originals."""
    from safetensors import safe_open

    from conftest import GOLDEN

    source = GOLDEN / "waveglow_dle_style.pt"
    assert cli_main(["convert", str(source), str(tmp_path / "fp32")]) == 0
    assert cli_main(["convert", str(source), str(tmp_path / "fp16"), "--dtype", "fp16"]) == 0
    with safe_open(str(tmp_path / "fp16" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    sizes = [(tmp_path / d / "model.safetensors").stat().st_size for d in ("fp32", "fp16")]
    assert 0.45 < sizes[1] / sizes[0] < 0.55
    full, half = WaveGlow.from_pretrained(tmp_path / "fp32"), WaveGlow.from_pretrained(tmp_path / "fp16")
    assert all(p.dtype == torch.float32 for p in half.parameters())
    mel = torch.randn(1, full.config.n_mel_channels, 8) - 5
    z = full.draw_latent(1, 8 * full.config.hop_length // full.config.n_group, torch.Generator().manual_seed(0))
    a, b = full.infer(mel, 0.6, z), half.infer(mel, 0.6, z)
    snr = 10 * torch.log10(a.pow(2).sum() / (a - b).pow(2).sum())
    assert snr > 40, snr


def test_exported_files_follow_the_umask(tmp_path):
    """save_pretrained (safetensors writes its file 0600) leaves config.json and model.safetensors readable by
    others under the usual 022 umask, and private under 077."""
    import os

    model = WaveGlow(WaveGlowConfig(n_flows=2, n_group=8, n_early_every=4, n_early_size=2, n_layers=2,
                                    n_channels=8))
    for umask, expected in ((0o022, 0o644), (0o077, 0o600)):
        previous = os.umask(umask)
        try:
            directory = model.save_pretrained(tmp_path / f"export_{umask:o}")
        finally:
            os.umask(previous)
        for name in ("config.json", "model.safetensors"):
            assert os.stat(directory / name).st_mode & 0o777 == expected, (name, oct(umask))


TINY = CONFIGS["small_a"]


def test_exported_config_states_its_mel_and_reads_it_back(tmp_path):
    """MelConfig is written into config.json ("mel") and comes back with the model; convert keeps it; an export
    from before MelConfig (no "mel") reads as NVIDIA's defaults at the model's rate, hop and n_mels."""
    from waveglow.audio import MelConfig
    from waveglow.vocoder.model import load_waveglow

    model = random_model(TINY)
    mel = MelConfig(sampling_rate=TINY.sampling_rate, n_fft=512, win_length=400, hop_length=TINY.hop_length,
                    n_mels=TINY.n_mel_channels, fmin=50.0, fmax=7600.0)
    model.save_pretrained(tmp_path / "a", mel=mel)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["mel"] == mel.to_dict()
    assert load_waveglow(tmp_path / "a")[1].mel == mel
    assert cli_main(["convert", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert load_waveglow(tmp_path / "b")[1].mel == mel
    assert mel.mel_spectrogram().config == mel

    record = json.loads((tmp_path / "a" / "config.json").read_text())
    del record["mel"]
    (tmp_path / "a" / "config.json").write_text(json.dumps(record))
    assert load_waveglow(tmp_path / "a")[1].mel == MelConfig(sampling_rate=TINY.sampling_rate,
                                                             hop_length=TINY.hop_length, n_mels=TINY.n_mel_channels)
    record["mel"] = {**mel.to_dict(), "n_melz": 3}
    (tmp_path / "a" / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="mel: unknown field 'n_melz'"):
        load_waveglow(tmp_path / "a")
    with pytest.raises(ValueError, match="do not fit the model"):
        model.save_pretrained(tmp_path / "c", mel=MelConfig(n_mels=TINY.n_mel_channels + 1,
                                                            hop_length=TINY.hop_length))
