"""A diagnosis finding: what is wrong, since when, the numbers, and what to do."""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warning", "critical")

# The fix each finding points at: a preset to restart with, or a key to press.
SUGGESTED_ACTIONS = {
    "overfitting": "restart with preset 'regularize' (dropout 0.5, weight decay x10)",
    "plateau": "stop the run, or restart with preset 'lower-lr'",
    "no_learning": "check the data split and labels; then restart with preset 'lower-lr'",
    "divergence": "restart with preset 'lower-lr' from the last good checkpoint",
    "blank_collapse": "check the decoder (greedy, no filtering), then restart with preset 'lower-lr'",
    "lr_wasted": "stop the run, or restart with preset 'lower-lr'",
    "lr_oscillation": "restart with preset 'gentle-finetune' (no warm restarts)",
    "resume_collapse": "restart from the checkpoint with preset 'gentle-finetune'",
    "small_val_set": "enlarge the validation set before trusting small differences",
    "class_imbalance": "rebalance the classes (sampler or loss weights)",
    "unstable_val": "evaluate on more data, or lower the LR; compare smoothed curves only",
    "data_warning": "inspect the data pipeline (zero-variance features, NaN inputs)",
}


@dataclass(slots=True)
class Finding:
    id: str
    severity: str
    title: str
    evidence: str
    epoch: float | None = None
    step: int | None = None
    segment: int = 0
    action: str | None = None

    def __post_init__(self) -> None:
        if self.action is None:
            self.action = SUGGESTED_ACTIONS.get(self.id)

    def to_json(self) -> dict:
        return {"id": self.id, "severity": self.severity,
                "epoch": None if self.epoch is None else int(self.epoch),
                "step": None if self.step is None else int(self.step),
                "title": self.title, "evidence": self.evidence, "action": self.action}
