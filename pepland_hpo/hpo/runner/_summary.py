"""What a worker did: counts by outcome, the trials it ran, why it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WorkerSummary:
    worker: str
    study: str
    device: str
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    handed_back: int = 0
    reaped: int = 0
    trials: list[int] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    stop_reason: str | None = None

    def __str__(self) -> str:
        tail = " (stopped by signal; running trial handed back)" if self.interrupted else ""
        return (
            f"worker {self.worker} on {self.device}, study {self.study}: {self.completed} complete, "
            f"{self.pruned} pruned, {self.failed} failed, {self.handed_back} handed back, "
            f"{self.reaped} stale trial(s) reaped in {self.seconds:.1f}s{tail}"
        )


# --------------------------------------------------------------------------- the child


__all__ = ["WorkerSummary"]
