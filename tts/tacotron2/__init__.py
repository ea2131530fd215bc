"""Tacotron2 text-to-mel model, compatible with NVIDIA/tacotron2 and DeepLearningExamples checkpoints.

    from tts import Tacotron2
    from tts.text import text_to_sequence
    model = Tacotron2.from_pretrained("tacotron2_statedict.pt")
    mel, mel_postnet, gate, alignments = model.infer(text_to_sequence("Hello.", ["english_cleaners"]))
"""
from tts.tacotron2.config import Tacotron2Config, config_from_state_dict
from tts.tacotron2.model import MaxDecoderStepsWarning, Tacotron2, Tacotron2Inference, Tacotron2Output

__all__ = ["Tacotron2", "Tacotron2Config", "Tacotron2Output", "Tacotron2Inference", "MaxDecoderStepsWarning",
           "config_from_state_dict"]
