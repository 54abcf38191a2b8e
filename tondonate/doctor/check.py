"""One doctor check and its statuses."""

from __future__ import annotations

import dataclasses

OK, WARN, FAIL = "ok", "WARN", "FAIL"


@dataclasses.dataclass(frozen=True)
class Check:
    status: str  # ok | WARN | FAIL
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status} {self.name}: {self.detail}"
