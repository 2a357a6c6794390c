"""Results computed once and kept as JSON under the store (lesion studies, landscapes, confusion matrices)."""

from __future__ import annotations

from dataclasses import asdict
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
