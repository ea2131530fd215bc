"""Audio features and audio files: the feature contract a vocoder is fed, and the conversions around it.

    features       MelSpectrogram (Tacotron2's TacotronSTFT, bit for bit), filterbank, log compression, load_wav
    mel_adapter    other toolkits' mel conventions -> ours (layouts, log bases, normalisations, framings)
    mel_files      reading mel files (.npy / .npz / .pt) through the loading gate
    griffin_lim    mel -> audio without a model (the labelled fallback vocoder)
    stft_distance  the multi-resolution STFT distance (training loss and metric)
    wav_writer     16-bit PCM WAV files, written atomically

    from waveglow.audio import MelSpectrogram
    mel = MelSpectrogram()(audio)        # [B, T] in [-1, 1] -> log-mels [B, 80, 1 + T // 256]
"""
from waveglow.audio.features import (MAX_WAV_VALUE, MelConfig, MelSpectrogram, dft_conv_basis, dynamic_range_compression,
                                     dynamic_range_decompression, load_wav, mel_filterbank, periodic_hann_window,
                                     resample_audio, spectral_de_normalize, spectral_normalize)

__all__ = ["MAX_WAV_VALUE", "MelConfig", "MelSpectrogram", "dft_conv_basis", "dynamic_range_compression",
           "dynamic_range_decompression", "load_wav", "mel_filterbank", "periodic_hann_window", "resample_audio",
           "spectral_de_normalize", "spectral_normalize"]
