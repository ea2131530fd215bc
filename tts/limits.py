"""Limits shared by every entry point that speaks text (no imports: the CLI reads them before torch is loaded)."""

#: The longest text one call speaks: the default of `waveglow tts --max-chars`, of `Synthesizer(max_chars=)` and
#: of `check_text`, and the demo's fixed limit. 2000 characters is a long paragraph, about 2 minutes of speech at
#: LJSpeech's ~15 characters per second. Text is spoken sentence by sentence, so the limit bounds waiting time, not
#: memory: 2000 keeps the CLI's and the API's documented default (a 744-character passage is common), while one
#: demo request, served one at a time, still ends within minutes on a CPU. The demo's 600 was the odd one out.
MAX_TEXT_CHARS = 2000
