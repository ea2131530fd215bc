"""Config dataclasses from JSON objects: the one rule for unknown keys and for naming the file in an error."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from waveglow.common.errors import ConfigError


def check_known_keys(values: dict[str, Any], known: Iterable[str], source: str) -> None:
    """ConfigError naming `source`, the first key of `values` outside `known` and the known ones (sorted)."""
    names = sorted(known)
    for key in values:
        if key not in names:
            raise ConfigError(f"{source}: unknown field '{key}' (known: {', '.join(names)})")


def build_config(cls, values: dict[str, Any], source: str):
    """cls(**values) for a config dataclass: an unknown key, or the constructor's ConfigError, is reported as a
    ConfigError starting with `source`."""
    check_known_keys(values, (f.name for f in dataclasses.fields(cls)), source)
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
