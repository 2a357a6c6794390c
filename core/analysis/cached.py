"""Results computed once and kept as JSON under the store (lesion studies, landscapes, confusion matrices)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Self


class CachedResult:
    """For a dataclass: its JSON form and back. A ``cached`` field (read back rather than computed) is not saved."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("cached", None)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Self:
        return cls(**d)

    @classmethod
    def read(cls, path: str | Path) -> Self | None:
        """The result kept at ``path``, marked ``cached``; None if absent or unreadable (then it is recomputed)."""
        try:
            result = cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if hasattr(result, "cached"):
            result.cached = True
        return result
