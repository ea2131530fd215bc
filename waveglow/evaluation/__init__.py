"""Objective evaluation of vocoders on held-out speech: PESQ, STOI, mel-cepstral distortion, recogniser WER.

    wer.py      text normalisation, word edit distance, PocketSphinx recogniser
    mcd.py      mel-cepstral distortion (the analysis is pinned there)
    quality.py  PESQ wideband and STOI wrappers (the `pesq` and `pystoi` packages)
    runner.py   copy-synthesis of held-out clips and the results table (`waveglow evaluate`)

Third-party metric packages are imported only when their metric runs (pip install waveglow-toolkit[eval]).
"""
