"""Parts every room may use: the error hierarchy, config objects from JSON, atomic writes, the loading gate
(allow-listed unpickler, safetensors and JSON readers) and the inference precision.

    errors          ToolkitError and its subclasses (exit codes for the CLI)
    config_objects  config dataclasses from JSON objects (unknown keys, the file named in errors)
    atomic          atomic file writes (temporary file + rename)
    safe_pickle     allow-listed unpickling of files we did not write
    safe_loading    the one loading gate: torch files, safetensors, JSON objects, size and finiteness checks
    precision       Precision: fp32 / bf16 / fp16 / auto, and what 'auto' resolves to on a device
"""
