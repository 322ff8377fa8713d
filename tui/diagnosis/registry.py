"""The one registry of findings: each id's rule, what it tests, its thresholds, its fix, and what it
supersedes. Listed causes first: this order is the order of findings in check, the UI and ls."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tui.diagnosis.config import DEFAULTS
from tui.diagnosis.finding import SEVERITIES, Finding
from tui.diagnosis.rules_schedule import check_lr_oscillation, check_lr_wasted, check_resume_collapse
from tui.diagnosis.rules_training import (check_blank_collapse, check_class_imbalance, check_divergence,
                                          check_small_val_set)
from tui.model.number_format import when
from tui.diagnosis.rules_validation import check_no_learning, check_overfitting, check_plateau, check_unstable_val


@dataclass(frozen=True)
class FindingKind:
    """One finding id: the rule that raises it (None: run-wide, raised by the engine) and its fix."""

    id: str
    rule: Callable[..., Finding | None] | None
    tests: str  # what the rule tests, in a sentence (the README's diagnosis table)
    action: str
    preset: str | None = None  # the preset the action restarts with
    supersedes: tuple[str, ...] = ()  # in the same run these are dropped: this finding says it better
    explains: tuple[str, ...] = ()  # in the same run these are kept, but told as following from this one

    @property
    def thresholds(self) -> dict:
        """The documented defaults of this rule (tui.diagnosis.config; a config file may override them)."""
        return DEFAULTS[self.id]


REGISTRY: tuple[FindingKind, ...] = (
    FindingKind("divergence", check_divergence,
                "a loss is NaN/Inf or impossible (negative CTC), or the training loss climbs to rise_factor x its low"
                " and stays there (from the start: above its first value), beyond the curve's own noise",
                "restart with preset 'lower-lr' from the last good checkpoint", "lower-lr",
                supersedes=("plateau", "unstable_val"), explains=("blank_collapse", "no_learning")),
    FindingKind("resume_collapse", check_resume_collapse,
                "right after a resume, validation is max_drop (accuracy) / max_rise (loss) worse than at the checkpoint",
                "restart from the checkpoint with preset 'gentle-finetune'", "gentle-finetune",
                supersedes=("no_learning",)),
    FindingKind("no_learning", check_no_learning,
                "the best validation result is within noise of the first evaluation, with evidence that grows with"
                " the series' noise and shrinks with its length; or the training loss never leaves its start",
                "check the data split and labels", None, supersedes=("plateau",), explains=("blank_collapse",)),
    FindingKind("blank_collapse", check_blank_collapse,
                "sample decodes are empty or far shorter than their targets past the early phase, or WER/CER stays"
                " at stuck_error for stuck_evals evaluations",
                "check the decoder (greedy, no filtering), then restart with preset 'lower-lr'", "lower-lr"),
    FindingKind("overfitting", check_overfitting,
                "validation is worse after its best than its noise explains, for the last evaluations, while the"
                " training counterpart improved over the same stretch",
                "restart with preset 'regularize' (dropout 0.5, weight decay x10)", "regularize"),
    FindingKind("lr_wasted", check_lr_wasted,
                "after a step cut of the LR (not a smooth schedule or a warm restart), the metric made no gain"
                " beyond its noise for min_evals_after_cut evaluations",
                "stop the run: the LR was already cut and nothing improved since", None, explains=("plateau",)),
    FindingKind("lr_oscillation", check_lr_oscillation,
                "the LR jumps back up jump_ratio x (warm restarts) at least min_restarts times and validation"
                " gets worse right after",
                "restart with preset 'gentle-finetune' (no warm restarts)", "gentle-finetune"),
    FindingKind("plateau", check_plateau,
                "no new best of the main metric beyond its noise for the last max(min_patience, patience_fraction"
                " of the evaluations), after the run had learned",
                "stop the run, or restart with preset 'lower-lr'", "lower-lr"),
    FindingKind("unstable_val", check_unstable_val,
                "after the early phase, validation turns back by min_swing of its level at least max(3,"
                " min_swing_fraction of the evaluations) times, and train_ratio x as often as training does",
                "evaluate on more data, or lower the LR; compare smoothed curves only", None),
    FindingKind("small_val_set", check_small_val_set,
                "the validation set has at most max_samples samples (logged, or every accuracy is k/n)",
                "enlarge the validation set before trusting small differences", None),
    FindingKind("class_imbalance", check_class_imbalance,
                "per-class validation results at the last evaluation spread by min_spread with one at most max_worst",
                "rebalance the classes (sampler or loss weights)", None),
    FindingKind("data_warning", None,
                "the run's output carries data-pipeline warnings (invalid value in divide, zero variance, NaN inputs)",
                "inspect the data pipeline (zero-variance features, NaN inputs)", None),
    FindingKind("straggler", None,
                "in a multi-process run the other ranks wait for one rank min_share of a step (and min_seconds)"
                " at trainwatch's safe point",
                "see what that rank does more (rank 0: logging, evaluation, checkpoints) or its data loading", None),
)
KINDS = {kind.id: kind for kind in REGISTRY}
FINDING_IDS = tuple(KINDS)


def with_fix(finding: Finding) -> Finding:
    """The registry's action and preset, unless the rule chose them for this cause."""
    kind = KINDS[finding.id]
    if finding.action is None:
        finding.action, finding.preset = kind.action, kind.preset
    return finding


def resolve_causes(found: list[Finding]) -> list[Finding]:
    """Within one run: drop what a cause supersedes, and tell a symptom after the cause it follows from."""
    present = {finding.id: finding for finding in found}
    dropped = {victim for cause in present for victim in KINDS[cause].supersedes}
    kept = [finding for finding in found if finding.id not in dropped]
    for finding in kept:
        cause = next((present[c] for c in present if finding.id in KINDS[c].explains and c not in dropped), None)
        if cause is not None and finding.explained_by is None:
            # The fix is the cause's: blank predictions after a blow-up want a lower LR, not a decoder check.
            finding.explained_by, finding.action, finding.preset = cause.id, cause.action, cause.preset
            finding.resume = cause.resume
            title = cause.title if cause.title[1:2].isupper() else cause.title[0].lower() + cause.title[1:]  # LR stays LR
            finding.evidence += f"; after {title} ({when(cause.epoch, cause.step)})"
    return kept


def ordered(findings: list[Finding]) -> list[Finding]:
    """Causes before symptoms: by severity, then the registry's order; a symptom right after its cause."""
    by_id = {finding.id: finding for finding in findings}

    def key(finding: Finding) -> tuple:
        anchor = by_id.get(finding.explained_by or "", finding)
        return (-SEVERITIES.index(anchor.severity), FINDING_IDS.index(anchor.id), anchor is not finding,
                FINDING_IDS.index(finding.id))
    return sorted(findings, key=key)
