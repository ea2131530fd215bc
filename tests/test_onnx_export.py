"""`waveglow export --onnx` and `vocode --runtime onnx`: onnxruntime equals torch within 1e-4 on the golden
checkpoints (and NVIDIA's golden audio), on the small config's committed voice and on every config branch; dynamic
batch and length; the seeded CLI path; files we did not write are refused."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow import WaveGlow, cli
from waveglow.common.errors import CheckpointError
from waveglow.vocoder.config import WaveGlowConfig
from waveglow.vocoder.denoiser import Denoiser
from waveglow.vocoder.inference import VocodeSetupError, get_vocoder
from waveglow.vocoder.long_form import infer_chunked
from waveglow.vocoder.onnx_export import META_CONFIG, OnnxWaveGlow, _InferGraph, export_onnx, load_onnx_vocoder

from conftest import GOLDEN

REPO = GOLDEN.parents[2]
IO = np.load(GOLDEN / "waveglow_io.npz")
FILES = ["waveglow_nvidia_train_style.pt", "waveglow_dle_style.pt"]
TOL = 1e-4


def t(name):
    return torch.from_numpy(IO[name])


def _export_golden(name, tmp_path_factory):
    model = WaveGlow.from_pretrained(GOLDEN / name)
    path = tmp_path_factory.mktemp("onnx") / "golden.onnx"
    report = export_onnx(model, path)
    assert report.max_error <= TOL and path.stat().st_size == report.bytes
    return model, OnnxWaveGlow(path), path


@pytest.fixture(scope="module", params=FILES)
def each_golden(request, tmp_path_factory):
    """Both golden checkpoint formats (NVIDIA train.py pickle, DeepLearningExamples), each exported."""
    return _export_golden(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    return _export_golden(FILES[0], tmp_path_factory)


@pytest.mark.parametrize("key,sigma", [("infer_audio", float(IO["infer_sigma"])), ("infer_audio_sigma1", 1.0),
                                       ("infer_audio_sigma0", 0.0)])
def test_golden_parity(each_golden, key, sigma):
    """The exported graph against NVIDIA's golden audio and against our torch infer, same latent."""
    model, runner, _ = each_golden
    audio = runner.infer(t("infer_mel"), sigma=sigma, z=t("infer_z"))
    assert audio.shape == (1, 24 * 256) and audio.dtype == torch.float32
    assert (audio - t(key)).abs().max().item() <= TOL
    assert (audio - model.infer(t("infer_mel"), sigma=sigma, z=t("infer_z"), precision="fp32")).abs().max() <= TOL


@pytest.mark.parametrize("batch,frames", [(1, 1), (2, 7), (1, 600)])  # 600 > infer's 512-frame conditioning pieces
def test_dynamic_batch_and_length(golden, batch, frames):
    model, runner, _ = golden
    mel = torch.randn(batch, 16, frames, generator=torch.Generator().manual_seed(frames)) - 5
    z = model.draw_latent(batch, frames * 32, torch.Generator().manual_seed(1))
    expected = model.infer(mel, sigma=0.666, z=z, precision="fp32")
    assert (runner.infer(mel, sigma=0.666, z=z) - expected).abs().max().item() <= TOL


def test_seeded_noise_is_torchs(golden):
    """Without a latent, the runner draws it like `infer` does (NVIDIA's order), so a seed gives the same audio."""
    model, runner, _ = golden
    torch.manual_seed(31)
    assert (runner.infer(t("infer_mel"), sigma=0.6) - t("infer_audio")).abs().max().item() <= TOL
    g = torch.Generator().manual_seed(31)
    assert torch.equal(runner.draw_latent(1, 768, g), t("infer_z"))


def test_denoiser_and_chunks_outside_the_graph(golden):
    model, runner, _ = golden
    mel = torch.randn(1, 16, 40, generator=torch.Generator().manual_seed(0)) - 5
    z = model.draw_latent(1, 40 * 32, torch.Generator().manual_seed(0))
    audio = runner.infer(mel, 0.666, z)
    expected = model.infer(mel, 0.666, z=z, precision="fp32")
    assert (Denoiser(runner)(audio, 0.05) - Denoiser(model)(expected, 0.05)).abs().max().item() <= TOL
    chunked = infer_chunked(runner, mel, 0.666, z=z, chunk_frames=16)
    assert (chunked - expected).abs().max().item() <= TOL


def test_small_config_shapes(tmp_path):
    """configs/waveglow_small.json's shapes (n_group 64, 'group' conditioning), trained weights' scale: the voice in
    training without its sine excitation, which the graph does not take (refused below)."""
    small = json.loads((REPO / "configs" / "waveglow_small.json").read_text())["model"]
    small.update(excitation_channels=0, harmonics=0, aligned_harmonics=False, envelope_iterations=0)
    torch.manual_seed(0)
    model = WaveGlow(WaveGlowConfig.from_dict(small)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    report = export_onnx(model, tmp_path / "voice.onnx")
    assert report.max_error <= TOL
    runner = OnnxWaveGlow(report.path)
    assert runner.config == model.config
    mel = torch.randn(1, 80, 50, generator=torch.Generator().manual_seed(0)) * 1.5 - 6
    z = model.draw_latent(1, 50 * 4, torch.Generator().manual_seed(0))
    assert (runner.infer(mel, 0.666, z) - model.infer(mel, 0.666, z=z, precision="fp32")).abs().max() <= TOL


def test_an_excitation_or_envelope_model_is_refused_and_nothing_is_written(tmp_path):
    model = WaveGlow.from_pretrained(REPO / "voices" / "in_training")
    if not model.config.excitation_channels:
        model = WaveGlow(WaveGlowConfig(n_flows=2, n_group=8, n_early_size=0, n_layers=1, n_channels=8,
                                        excitation_channels=2, conditioning="group", upsample_kernel_size=64))
    with pytest.raises(ValueError, match="sine excitation"):
        export_onnx(model, tmp_path / "voice.onnx")
    projected = WaveGlow(WaveGlowConfig(n_flows=2, n_group=8, n_early_size=0, n_layers=1, n_channels=8,
                                        envelope_iterations=2))
    with pytest.raises(ValueError, match="envelope_iterations"):
        export_onnx(projected, tmp_path / "voice.onnx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("overrides", [
    dict(permutation="lu", conditioning="group", upsample_kernel_size=80, post_filter_layers=2,
         post_filter_channels=4),
    dict(upsample_kernel_size=256),  # kernel == hop: nothing to crop
    dict(conditioning="group", upsample_kernel_size=64),  # 'group' with no right crop
    dict(n_early_every=4)])  # no early output in 3 flows
def test_config_branches(tmp_path, overrides):
    torch.manual_seed(0)
    fields = dict(n_mel_channels=8, n_flows=3, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=8,
                  upsample_kernel_size=512)
    config = WaveGlowConfig(**{**fields, **overrides})
    model = WaveGlow(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    assert export_onnx(model, tmp_path / "m.onnx").max_error <= TOL


def test_a_failed_check_keeps_no_file(tmp_path, monkeypatch):
    model = WaveGlow.from_pretrained(GOLDEN / FILES[0])
    forward = _InferGraph.forward
    monkeypatch.setattr(_InferGraph, "forward", lambda self, mel, z, sigma: forward(self, mel, z, sigma) + 1e-3)
    with pytest.raises(ValueError, match=r"differs from torch by 0\.001.*was not kept"):
        export_onnx(model, tmp_path / "bad.onnx")
    assert not list(tmp_path.iterdir())


# ---- the command line ----------------------------------------------------------------------------------------
def main(monkeypatch, *argv):
    monkeypatch.setattr(cli, "COMMANDS", [("vocode", "waveglow.commands.vocode", "vocode mels"),
                                          ("export", "waveglow.commands.export", "export to ONNX")])
    return cli.main([*map(str, argv)])


def test_cli_export_then_vocode_equals_torch(tmp_path, monkeypatch, capsys):
    ckpt, onnx_file = GOLDEN / FILES[0], tmp_path / "m.onnx"
    assert main(monkeypatch, "export", ckpt, "--onnx", onnx_file) == 0
    out = capsys.readouterr().out
    assert "dynamic batch and length" in out and "max |diff|" in out
    assert onnx_file.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert main(monkeypatch, "export", ckpt, "--onnx", onnx_file) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    mel = tmp_path / "mel.npy"
    np.save(mel, (np.random.default_rng(0).standard_normal((16, 30)) * 0.5 - 6).astype(np.float32))
    common = ["--seed", "3", "--sigma", "0.6", "--denoise", "0.02", "--precision", "fp32", "--no-progress"]
    assert main(monkeypatch, "vocode", mel, "-o", tmp_path / "torch", "--checkpoint", ckpt, *common) == 0
    assert main(monkeypatch, "vocode", mel, "-o", tmp_path / "onnx", "--checkpoint", onnx_file, "--runtime", "onnx",
                *common) == 0
    a, b = (sf.read(tmp_path / d / "mel.wav", dtype="int16")[0].astype(int) for d in ("torch", "onnx"))
    assert len(a) == 30 * 256 and np.abs(a - b).max() <= 4  # 1e-4 of full scale is 3.3 LSB
    # the float path the CLI takes (Vocoder.synthesize), same latent
    torch_vocoder = get_vocoder(ckpt, "cpu", "fp32")
    onnx_vocoder = load_onnx_vocoder(onnx_file)
    mels = torch.from_numpy(np.load(mel))[None]
    z = torch_vocoder.latent(30, torch.Generator().manual_seed(3))
    assert torch.equal(z, onnx_vocoder.latent(30, torch.Generator().manual_seed(3)))
    for kwargs in ({}, {"denoise": 0.02}, {"chunk_frames": 8}):
        expected = torch_vocoder.synthesize(mels, z, 0.6, **kwargs)
        assert (onnx_vocoder.synthesize(mels, z, 0.6, **kwargs) - expected).abs().max().item() <= TOL


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_cli_refusals(tmp_path, monkeypatch, capsys):
    ckpt = GOLDEN / FILES[0]
    mel = tmp_path / "mel.npy"
    np.save(mel, np.full((16, 4), -6.0, np.float32))
    out = tmp_path / "out"
    assert main(monkeypatch, "vocode", mel, "-o", out, "--runtime", "onnx") == 2
    assert "--runtime onnx needs --checkpoint" in capsys.readouterr().err
    text = tmp_path / "x.onnx"
    text.write_text("not a model")
    assert main(monkeypatch, "vocode", mel, "-o", out, "--runtime", "onnx", "--checkpoint", text) == 2
    assert "x.onnx: not a loadable ONNX model" in capsys.readouterr().err
    assert main(monkeypatch, "vocode", mel, "-o", out, "--runtime", "onnx", "--checkpoint", tmp_path / "no.onnx") == 2
    assert "no.onnx" in capsys.readouterr().err
    onnx_file = tmp_path / "m.onnx"
    export_onnx(WaveGlow.from_pretrained(ckpt), onnx_file)
    for flags, message in ((["--precision", "bf16"], "fp32 graph"), (["--device", "cuda"], "runs on the CPU")):
        assert main(monkeypatch, "vocode", mel, "-o", out, "--runtime", "onnx", "--checkpoint", onnx_file,
                    *flags) == 2
        assert message in capsys.readouterr().err
    assert main(monkeypatch, "export", ckpt, "--onnx", tmp_path) == 2  # a folder
    assert main(monkeypatch, "export", tmp_path / "missing.pt", "--onnx", tmp_path / "y.onnx") == 2
    assert not (tmp_path / "y.onnx").exists()


def test_foreign_onnx_files_are_refused(tmp_path):
    """An ONNX model someone else wrote has none of our metadata; a tampered config is checked like a checkpoint's."""
    import onnx

    foreign = tmp_path / "foreign.onnx"
    with torch.no_grad(), pytest.warns(DeprecationWarning):
        torch.onnx.export(torch.nn.Conv1d(16, 16, 1), (torch.zeros(1, 16, 4),), foreign, dynamo=False)
    with pytest.raises(CheckpointError, match="not written by `waveglow export`"):
        OnnxWaveGlow(foreign)
    ours = tmp_path / "ours.onnx"
    export_onnx(WaveGlow.from_pretrained(GOLDEN / FILES[0]), ours)
    proto = onnx.load(ours)
    entry = next(p for p in proto.metadata_props if p.key == META_CONFIG)
    config = json.loads(entry.value)
    config["n_group"] = 100000
    entry.value = json.dumps(config)
    onnx.save(proto, tmp_path / "tampered.onnx")
    with pytest.raises(CheckpointError, match="n_group"):
        OnnxWaveGlow(tmp_path / "tampered.onnx")
    with pytest.raises(CheckpointError, match="is a folder|directory|not a regular file"):
        OnnxWaveGlow(tmp_path)


def test_precision_other_than_fp32_is_refused(golden):
    _, runner, path = golden
    with pytest.raises(VocodeSetupError, match="fp32"):
        runner.infer(t("infer_mel"), sigma=0.6, precision="bf16")
    with pytest.raises(VocodeSetupError, match="fp32"):
        load_onnx_vocoder(path, precision="fp16")
