"""Objective evaluation of vocoders on held-out speech: DNSMOS, F0 / voicing, MR-STFT distance, PESQ, STOI, MCD, WER.

    wer.py      text normalisation, word edit distance, PocketSphinx recogniser
    mcd.py      mel-cepstral distortion (the analysis is pinned there)
    quality.py  PESQ wideband, STOI and DNSMOS wrappers (the `pesq`, `pystoi` and `speechmos` packages)
    pitch.py    F0 RMSE (cents) and voiced/unvoiced error against the recording (librosa's pYIN)
    runner.py   copy-synthesis of held-out clips and the results table (`waveglow evaluate`)

Third-party metric packages are imported only when their metric runs (pip install waveglow-toolkit[eval]).
"""
