"""Hostile checkpoints: the allow-listed unpickler refuses them, names the global, and the payload never runs."""
import builtins
import os
import pickle
import subprocess
from collections import OrderedDict

import pytest
import torch

from waveglow import CheckpointError, WaveGlow
from waveglow.common.safe_loading import load_torch_file

from nvidia_layout import fake_glow_module


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious checkpoint does on load."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker):
    touch = f"open({str(marker)!r}, 'w').write('pwned')"
    return {
        "os.system": (Payload(os.system, f"touch {marker}"), f"{os.system.__module__}.system"),
        "builtins.exec": (Payload(builtins.exec, touch), "builtins.exec"),
        "builtins.eval": (Payload(builtins.eval, touch), "builtins.eval"),
        "subprocess.Popen": (Payload(subprocess.Popen, ["touch", str(marker)]), "subprocess.Popen"),
    }


KINDS = ["os.system", "builtins.exec", "builtins.eval", "subprocess.Popen"]


def containers(payload):
    weight = torch.zeros(2)
    return {
        "top_level": payload,
        "inside_state_dict": {"state_dict": OrderedDict([("upsample.weight", weight), ("evil", payload)])},
        "inside_config": {"config": {"n_flows": payload}, "state_dict": {"upsample.weight": weight}},
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["top_level", "inside_state_dict", "inside_config"])
@pytest.mark.parametrize("legacy_format", [False, True])
def test_hostile_pickle_is_refused_and_never_runs(tmp_path, kind, where, legacy_format):
    marker = tmp_path / "payload_ran"
    payload, global_name = payloads(marker)[kind]
    path = tmp_path / "evil.pt"
    torch.save(containers(payload)[where], path, _use_new_zipfile_serialization=not legacy_format)
    with pytest.raises(CheckpointError, match=global_name.replace(".", r"\.")) as info:
        WaveGlow.from_pretrained(path)
    assert "evil.pt" in str(info.value)
    assert not marker.exists()


def test_payload_hidden_in_a_pickled_nvidia_module(tmp_path):
    marker = tmp_path / "payload_ran"
    with fake_glow_module() as glow:
        top = glow.WaveGlow()
        top.upsample = torch.nn.ConvTranspose1d(2, 2, 4, stride=2)
        top.sneaky = Payload(os.system, f"touch {marker}")
        torch.save({"model": top}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="system"):
        WaveGlow.from_pretrained(tmp_path / "evil.pt")
    assert not marker.exists()


def test_raw_pickle_file_is_refused(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Payload(os.system, f"touch {marker}"), protocol=2))
    with pytest.raises(CheckpointError):
        load_torch_file(path)
    assert not marker.exists()


def test_stand_in_classes_cannot_be_called_with_arguments(tmp_path):
    # A reduce that "calls" an allowed module class with a command must not do anything but fail.
    marker = tmp_path / "payload_ran"
    with fake_glow_module() as glow:
        torch.save({"model": Payload(glow.WaveGlow, f"touch {marker}")}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        WaveGlow.from_pretrained(tmp_path / "evil.pt")
    assert not marker.exists()


def test_plain_training_checkpoints_with_numpy_rng_state_load(tmp_path):
    import numpy as np

    state = {"state_dict": {"w": torch.ones(2)}, "rng": np.random.get_state(), "cuda_rng_state_all": [],
             "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]}}
    torch.save(state, tmp_path / "train.pt")
    loaded = load_torch_file(tmp_path / "train.pt")
    assert np.array_equal(loaded["rng"][1], state["rng"][1])
