"""`waveglow info CKPT`: what a checkpoint is (source format, config, parameter count)."""
from __future__ import annotations

import json
from waveglow.vocoder.model import load_waveglow


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="NVIDIA .pt, DeepLearningExamples .pt, or a directory in our format")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args) -> int:
    model, info = load_waveglow(args.checkpoint)
    report = {
        "path": info.path,
        "source_format": info.source_format,
        "parameters": model.num_parameters(),
        "config": model.config.to_dict(),
        **({"file": info.extra} if info.extra else {}),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"path:          {report['path']}")
    print(f"source format: {report['source_format']}")
    print(f"parameters:    {report['parameters']:,}")
    for key, value in info.extra.items():
        print(f"{key + ':':<15}{value}")
    print("config:")
    for key, value in report["config"].items():
        print(f"  {key}: {value}")
    return 0
