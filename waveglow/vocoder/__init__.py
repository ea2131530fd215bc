"""The WaveGlow vocoder: model, coupling network, checkpoints of every format, inference.

    config           WaveGlowConfig (JSON hyper-parameters)
    wavenet          WN, the coupling network
    postfilter       PostFilter (optional, trained by the spectral loss only)
    model            WaveGlow (forward / infer / reverse), WaveGlowLoss
    denoiser         NVIDIA's bias-spectrum Denoiser
    long_form        chunked inference with one latent for the whole utterance
    checkpoint       reading NVIDIA / DeepLearningExamples / our files; save_waveglow; load_waveglow
    run_config       TrainingConfig: the {model, train, data} JSON a training run stores
    run_checkpoints  a run's checkpoints: CheckpointStore, reading and checking payloads
    loading          a model for scoring from any checkpoint kind (LoadedModel)
    inference        Vocoder, the one cache of loaded models, vocode()
    vocode_files     vocoding mel files to WAV files (`waveglow vocode`)
"""
