"""Tacotron2 against NVIDIA's reference outputs (tests/fixtures/golden) and checkpoint-loading rules."""
from __future__ import annotations

import json
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from waveglow.common.errors import CheckpointError
from tts import Tacotron2
from tts.tacotron2 import MaxDecoderStepsWarning, Tacotron2Config
from tts.text import text_to_sequence

FIXTURES = Path(__file__).parent / "fixtures" / "golden"
CHECKPOINT = FIXTURES / "tacotron2_nvidia_train_style.pt"
GOLDEN_CONFIG = json.loads((FIXTURES / "golden_config.json").read_text())["tacotron2"]
ATOL = 1e-5  # encoder, mel, alignments (golden README)
ATOL_GATE_POSTNET = 1e-4

ARCHITECTURE_FIELDS = [
    "n_symbols", "symbols_embedding_dim", "encoder_kernel_size", "encoder_n_convolutions", "encoder_embedding_dim",
    "n_mel_channels", "n_frames_per_step", "decoder_rnn_dim", "prenet_dim", "attention_rnn_dim", "attention_dim",
    "attention_location_n_filters", "attention_location_kernel_size", "postnet_embedding_dim",
    "postnet_kernel_size", "postnet_n_convolutions",
]


@pytest.fixture(scope="module")
def golden():
    with np.load(FIXTURES / "tacotron2_io.npz") as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}


@pytest.fixture(scope="module")
def model():
    return Tacotron2.from_pretrained(CHECKPOINT, prenet_dropout=0.0)


def assert_close(actual, expected, atol=ATOL):
    assert actual.shape == expected.shape
    err = (actual.detach().cpu() - expected).abs().max().item()
    assert err <= atol, f"max abs error {err:.3g} > {atol}"


def nvidia_layout(h: dict) -> "OrderedDict[str, tuple[int, ...]]":
    """Key -> shape of an NVIDIA/tacotron2 state_dict for hparams `h` (NVIDIA's names), in NVIDIA's order."""
    shapes: "OrderedDict[str, tuple[int, ...]]" = OrderedDict()

    def conv_bn(prefix, c_in, c_out, k):
        shapes[f"{prefix}.0.conv.weight"] = (c_out, c_in, k)
        shapes[f"{prefix}.0.conv.bias"] = (c_out,)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.1.{name}"] = (c_out,)
        shapes[f"{prefix}.1.num_batches_tracked"] = ()

    def lstm_cell(prefix, c_in, hidden, suffix=""):
        shapes[f"{prefix}.weight_ih{suffix}"] = (4 * hidden, c_in)
        shapes[f"{prefix}.weight_hh{suffix}"] = (4 * hidden, hidden)
        shapes[f"{prefix}.bias_ih{suffix}"] = (4 * hidden,)
        shapes[f"{prefix}.bias_hh{suffix}"] = (4 * hidden,)

    enc, n_mel, frame = h["encoder_embedding_dim"], h["n_mel_channels"], h["n_mel_channels"] * h["n_frames_per_step"]
    shapes["embedding.weight"] = (h["n_symbols"], h["symbols_embedding_dim"])
    for i in range(h["encoder_n_convolutions"]):
        conv_bn(f"encoder.convolutions.{i}", enc, enc, h["encoder_kernel_size"])
    lstm_cell("encoder.lstm", enc, enc // 2, "_l0")
    lstm_cell("encoder.lstm", enc, enc // 2, "_l0_reverse")
    shapes["decoder.prenet.layers.0.linear_layer.weight"] = (h["prenet_dim"], frame)
    shapes["decoder.prenet.layers.1.linear_layer.weight"] = (h["prenet_dim"], h["prenet_dim"])
    lstm_cell("decoder.attention_rnn", h["prenet_dim"] + enc, h["attention_rnn_dim"])
    attention = "decoder.attention_layer"
    shapes[f"{attention}.query_layer.linear_layer.weight"] = (h["attention_dim"], h["attention_rnn_dim"])
    shapes[f"{attention}.memory_layer.linear_layer.weight"] = (h["attention_dim"], enc)
    shapes[f"{attention}.v.linear_layer.weight"] = (1, h["attention_dim"])
    shapes[f"{attention}.location_layer.location_conv.conv.weight"] = (
        h["attention_location_n_filters"], 2, h["attention_location_kernel_size"])
    shapes[f"{attention}.location_layer.location_dense.linear_layer.weight"] = (
        h["attention_dim"], h["attention_location_n_filters"])
    lstm_cell("decoder.decoder_rnn", h["attention_rnn_dim"] + enc, h["decoder_rnn_dim"])
    shapes["decoder.linear_projection.linear_layer.weight"] = (frame, h["decoder_rnn_dim"] + enc)
    shapes["decoder.linear_projection.linear_layer.bias"] = (frame,)
    shapes["decoder.gate_layer.linear_layer.weight"] = (1, h["decoder_rnn_dim"] + enc)
    shapes["decoder.gate_layer.linear_layer.bias"] = (1,)
    n_post, emb = h["postnet_n_convolutions"], h["postnet_embedding_dim"]
    for i in range(n_post):
        conv_bn(f"postnet.convolutions.{i}", n_mel if i == 0 else emb, n_mel if i == n_post - 1 else emb,
                h["postnet_kernel_size"])
    return shapes


def random_state_dict(shapes, seed=0) -> "OrderedDict[str, torch.Tensor]":
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 16
            state[key] = torch.randn(shape, generator=gen) / fan_in ** 0.5
    return state


# ---------------------------------------------------------------- golden parity
def test_golden_checkpoint_is_cuda_tagged_and_loads_on_cpu(model):
    with zipfile.ZipFile(CHECKPOINT) as archive:
        pickle_bytes = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"cuda:0" in pickle_bytes  # storages were saved on a GPU
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert not model.training


def test_config_is_inferred_from_shapes(model):
    for name in ARCHITECTURE_FIELDS:
        assert getattr(model.config, name) == GOLDEN_CONFIG["hparams"][name], name
    assert model.prenet_dropout == 0.0
    assert len(model.state_dict()) == 84


def test_state_dict_layout_is_nvidias(model):
    checkpoint = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    expected = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()}
    assert list(nvidia_layout(GOLDEN_CONFIG["hparams"]).items()) == list(expected.items())
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == list(expected.items())


def test_golden_text_ids_come_from_the_text_frontend(golden):
    texts = GOLDEN_CONFIG["teacher_forced"]["texts"]
    for row, text, length in zip(golden["tf_text_padded"], texts, golden["tf_input_lengths"]):
        assert row[:length].tolist() == text_to_sequence(text, ["english_cleaners"])
        assert not row[length:].any()
    assert golden["inf_sequence"][0].tolist() == text_to_sequence(GOLDEN_CONFIG["inference"]["text"],
                                                                  ["english_cleaners"])
    assert golden["stop_sequence"][0].tolist() == text_to_sequence(GOLDEN_CONFIG["inference_stop_case"]["text"],
                                                                   ["english_cleaners"])


def test_teacher_forcing_matches_golden(model, golden):
    text, lengths = golden["tf_text_padded"], golden["tf_input_lengths"]
    with torch.no_grad():
        assert_close(model.encode(text, lengths), golden["tf_encoder_outputs"])
        mel, mel_postnet, gate, alignments = model(text, lengths, golden["tf_mel_padded"],
                                                   golden["tf_output_lengths"])
    assert_close(mel, golden["tf_mel_outputs"])
    assert_close(mel_postnet, golden["tf_mel_outputs_postnet"], ATOL_GATE_POSTNET)
    assert_close(gate, golden["tf_gate_outputs"], ATOL_GATE_POSTNET)
    assert_close(alignments, golden["tf_alignments"])
    short = int(golden["tf_output_lengths"].argmin())
    n = int(golden["tf_output_lengths"][short])
    assert torch.all(mel[short, :, n:] == 0) and torch.all(gate[short, n:] == 1000)
    t_in = int(golden["tf_input_lengths"][1])
    assert torch.all(alignments[1, :, t_in:] == 0)


def test_inference_matches_golden_and_warns_at_max_steps(model, golden):
    with pytest.warns(MaxDecoderStepsWarning):
        outputs = model.infer(golden["inf_sequence"], max_decoder_steps=30, gate_threshold=0.5)
    mel, mel_postnet, gate, alignments = outputs
    assert mel.shape == (1, 80, 30) and gate.shape == (1, 30, 1)
    assert_close(mel, golden["inf_mel_outputs"])
    assert_close(mel_postnet, golden["inf_mel_outputs_postnet"], ATOL_GATE_POSTNET)
    assert_close(gate, golden["inf_gate_outputs"], ATOL_GATE_POSTNET)
    assert_close(alignments, golden["inf_alignments"])


def test_inference_stops_when_gate_fires(model, golden, recwarn):
    mel, mel_postnet, gate, alignments = model.infer(golden["stop_sequence"][0], max_decoder_steps=30)
    assert mel.shape == (1, 80, 8)
    assert not [w for w in recwarn if issubclass(w.category, MaxDecoderStepsWarning)]
    assert_close(mel, golden["stop_mel_outputs"])
    assert_close(mel_postnet, golden["stop_mel_outputs_postnet"], ATOL_GATE_POSTNET)
    assert_close(gate, golden["stop_gate_outputs"], ATOL_GATE_POSTNET)
    assert_close(alignments, golden["stop_alignments"])
    # A higher threshold lets the same text run on.
    with pytest.warns(MaxDecoderStepsWarning):
        assert model.infer(golden["stop_sequence"], max_decoder_steps=12, gate_threshold=0.99)[0].shape[2] == 12


def test_padded_batch_inference_matches_items_alone(model, golden):
    long_ids, short_ids = golden["inf_sequence"][0], golden["stop_sequence"][0]
    text = torch.zeros(2, len(long_ids), dtype=torch.long)
    text[0], text[1, :len(short_ids)] = long_ids, short_ids
    with pytest.warns(MaxDecoderStepsWarning):
        result = model.infer_batch(text, [len(long_ids), len(short_ids)], max_decoder_steps=30)
    assert result.output_lengths.tolist() == [30, 8]
    assert result.mel_outputs.shape == (2, 80, 30) and result.gate_outputs.shape == (2, 30, 1)
    for name in ("mel_outputs", "mel_outputs_postnet", "gate_outputs", "alignments"):
        tol = ATOL_GATE_POSTNET if name in ("mel_outputs_postnet", "gate_outputs") else ATOL
        batched = getattr(result, name)
        assert_close(batched[:1], golden[f"inf_{name}"], tol)
        if name == "alignments":
            assert_close(batched[1:, :8, :len(short_ids)], golden[f"stop_{name}"], tol)
            assert torch.all(batched[1, 8:] == 0) and torch.all(batched[1, :, len(short_ids):] == 0)
        elif name == "gate_outputs":
            assert_close(batched[1:, :8], golden[f"stop_{name}"], tol)
            assert torch.all(batched[1, 8:] == 1000)
        else:
            assert_close(batched[1:, :, :8], golden[f"stop_{name}"], tol)
            assert torch.all(batched[1, :, 8:] == 0)


def test_prenet_dropout_is_nvidia_default_and_switchable(golden):
    noisy = Tacotron2.from_pretrained(CHECKPOINT)
    assert noisy.prenet_dropout == 0.5
    ids = golden["stop_sequence"]
    with pytest.warns(MaxDecoderStepsWarning):  # dropout noise may keep the gate low
        torch.manual_seed(0)
        first = noisy.infer(ids, max_decoder_steps=5, gate_threshold=1.0)[0]
        second = noisy.infer(ids, max_decoder_steps=5, gate_threshold=1.0)[0]
    assert not torch.equal(first, second)  # dropout stays on in eval mode, as in NVIDIA's code
    noisy.prenet_dropout = 0.0
    assert_close(noisy.infer(ids, max_decoder_steps=30)[0], golden["stop_mel_outputs"])
    with pytest.raises(ValueError):
        noisy.prenet_dropout = 1.0


# ---------------------------------------------------------------- checkpoint formats and other sizes
SMALL_HPARAMS = dict(
    n_symbols=40, symbols_embedding_dim=24, encoder_kernel_size=3, encoder_n_convolutions=2,
    encoder_embedding_dim=24, n_mel_channels=40, n_frames_per_step=2, decoder_rnn_dim=48, prenet_dim=20,
    attention_rnn_dim=36, attention_dim=12, attention_location_n_filters=6, attention_location_kernel_size=15,
    postnet_embedding_dim=28, postnet_kernel_size=3, postnet_n_convolutions=3,
)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(3)
    model = Tacotron2(prenet_dropout=0.0, **SMALL_HPARAMS).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("style", ["nvidia_train", "dle", "bare"])
def test_other_hyper_parameters_round_trip(small_model, tmp_path, style):
    state = small_model.state_dict()
    if style == "nvidia_train":
        checkpoint = {"iteration": 10, "state_dict": state, "optimizer": {"state": {}, "param_groups": []},
                      "learning_rate": 1e-3}
    elif style == "dle":
        checkpoint = {"state_dict": OrderedDict(("module." + k, v) for k, v in state.items()),
                      "config": {"n_mel_channels": 40}, "epoch": 3}
    else:
        checkpoint = state
    path = tmp_path / f"{style}.pt"
    torch.save(checkpoint, path)
    loaded = Tacotron2.from_pretrained(path, prenet_dropout=0.0)
    for name in ARCHITECTURE_FIELDS:
        assert getattr(loaded.config, name) == SMALL_HPARAMS[name], name

    text = torch.randint(1, 40, (2, 11))
    lengths = torch.tensor([11, 7])
    mel = torch.randn(2, 40, 10)
    with torch.no_grad():
        expected, actual = small_model(text, lengths, mel, [10, 6]), loaded(text, lengths, mel, [10, 6])
    for e, a in zip(expected, actual):
        assert torch.equal(e, a)
    assert actual.mel_outputs.shape == (2, 40, 10) and actual.gate_outputs.shape == (2, 5)  # 2 frames per step
    with pytest.warns(MaxDecoderStepsWarning):
        inferred = loaded.infer_batch(text, lengths, max_decoder_steps=4, gate_threshold=1.0)
    assert inferred.mel_outputs.shape == (2, 40, 8) and inferred.output_lengths.tolist() == [8, 8]


def test_full_size_nvidia_layout_loads_and_infers(tmp_path):
    hparams = {**Tacotron2Config().to_dict()}  # NVIDIA's published sizes
    shapes = nvidia_layout(hparams)
    assert len(shapes) == 84 and shapes["embedding.weight"] == (148, 512)
    path = tmp_path / "tacotron2_statedict.pt"
    torch.save({"state_dict": random_state_dict(shapes)}, path)
    model = Tacotron2.from_pretrained(path)
    config = model.config
    assert (config.n_mel_channels, config.encoder_embedding_dim, config.decoder_rnn_dim, config.attention_rnn_dim,
            config.attention_dim, config.attention_location_n_filters, config.attention_location_kernel_size,
            config.prenet_dim, config.postnet_embedding_dim, config.postnet_n_convolutions) == \
        (80, 512, 1024, 1024, 128, 32, 31, 256, 512, 5)
    ids = text_to_sequence("Hello world.", ["english_cleaners"])
    with pytest.warns(MaxDecoderStepsWarning):
        mel, mel_postnet, gate, alignments = model.infer(ids, max_decoder_steps=3, gate_threshold=1.0)
    assert mel.shape == mel_postnet.shape == (1, 80, 3)
    assert gate.shape == (1, 3, 1) and alignments.shape == (1, 3, len(ids))
    assert torch.isfinite(mel_postnet).all()
    assert torch.allclose(alignments.sum(-1), torch.ones(1, 3))


def test_checkpoint_without_batchnorm_step_counters_loads(tmp_path, model, golden):
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)["state_dict"]
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": old}, tmp_path / "old.pt")
    loaded = Tacotron2.from_pretrained(tmp_path / "old.pt", prenet_dropout=0.0)
    assert_close(loaded.infer(golden["stop_sequence"], max_decoder_steps=30)[0], golden["stop_mel_outputs"])


# ---------------------------------------------------------------- bad files
def _golden_state():
    return torch.load(CHECKPOINT, map_location="cpu", weights_only=True)["state_dict"]


def test_corrupted_file_raises_checkpoint_error(tmp_path):
    data = CHECKPOINT.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(bytes(range(256)) * 8)
    for path in (truncated, garbage, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError, match=path.name):
            Tacotron2.from_pretrained(path)


def test_hostile_pickle_is_refused(tmp_path, capsys):
    class Hostile:
        def __reduce__(self):
            return (print, ("payload ran",))

    path = tmp_path / "hostile.pt"
    torch.save({"state_dict": Hostile()}, path)
    with pytest.raises(CheckpointError):
        Tacotron2.from_pretrained(path)
    assert "payload ran" not in capsys.readouterr().out


@pytest.mark.parametrize("key", ["embedding.weight", "decoder.gate_layer.linear_layer.bias",
                                 "postnet.convolutions.4.1.running_var", "encoder.convolutions.1.0.conv.weight",
                                 "decoder.attention_rnn.weight_hh"])
def test_missing_tensor_is_named(tmp_path, key):
    state = _golden_state()
    del state[key]
    path = tmp_path / "incomplete.pt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="incomplete.pt") as info:
        Tacotron2.from_pretrained(path)
    assert repr(key) in str(info.value)


def test_wrong_layouts_are_checkpoint_errors(tmp_path):
    cases = {
        "no_state_dict": {"model_weights": {"embedding.weight": 1}},
        "not_a_dict": [1, 2, 3],
        "bad_shape": {"state_dict": {**_golden_state(),
                                     "decoder.decoder_rnn.weight_ih": torch.zeros(256, 95)}},
        "extra_key": {"state_dict": {**_golden_state(), "decoder.extra.weight": torch.zeros(1)}},
        "even_kernel": {"state_dict": {**_golden_state(),
                                       "encoder.convolutions.0.0.conv.weight": torch.zeros(32, 32, 4)}},
    }
    for name, obj in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save(obj, path)
        with pytest.raises(CheckpointError, match=f"{name}.pt"):
            Tacotron2.from_pretrained(path)


def test_invalid_lengths_are_rejected(model, golden):
    with pytest.raises(ValueError, match="input_lengths"):
        model.infer(golden["inf_sequence"], input_lengths=[0])
    with pytest.raises(ValueError, match="input_lengths"):
        model(golden["tf_text_padded"], [81, 82], golden["tf_mel_padded"], golden["tf_output_lengths"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_gpu(golden):
    model = Tacotron2.from_pretrained(CHECKPOINT, prenet_dropout=0.0, map_location="cuda")
    mel, mel_postnet, gate, alignments = model.infer(golden["stop_sequence"].cuda(), max_decoder_steps=30)
    assert mel.device.type == "cuda" and mel.shape == (1, 80, 8)
    assert_close(mel_postnet, golden["stop_mel_outputs_postnet"], 1e-3)
    with torch.no_grad():
        tf = model(golden["tf_text_padded"].cuda(), golden["tf_input_lengths"].cuda(),
                   golden["tf_mel_padded"].cuda(), golden["tf_output_lengths"].cuda())
    assert_close(tf.mel_outputs, golden["tf_mel_outputs"], 1e-3)
