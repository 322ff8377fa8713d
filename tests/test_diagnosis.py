"""Every finding id on a case that has it and a case that must not; the engine incremental = whole."""
from __future__ import annotations

import math

import pytest

from conftest import corpus_path, seed_path
from tui.commands.check_report import diagnose_target
from tui.diagnosis.engine import DiagnosisEngine
from tui.readers import read_target
from tui.model.run_model import RunModel
from trainers.runlog import RunLog


def ids_of(path: str) -> dict[str, dict]:
    _, findings = diagnose_target(path)
    return {finding.id: finding for finding in findings}


def native_log(tmp_path, epochs: int, values, *, start_epoch: int = 0, **run_start) -> str:
    """A native event log written by the real writer: values(epoch) -> metrics dict."""
    path = str(tmp_path / "events.jsonl")
    with RunLog(path) as log:
        log.run_start(start_epoch=start_epoch, **run_start)
        for epoch in range(start_epoch, start_epoch + epochs):
            log.metrics(step=epoch * 100, epoch=epoch, **values(epoch))
    return path


@pytest.mark.parametrize("finding_id, positive, negative", [
    ("overfitting", corpus_path("d70"), corpus_path("d04")),       # d04: early gap that closes
    ("plateau", seed_path("seed000_tcn_plateau"), corpus_path("d25")),  # d25: converging with its schedule
    ("no_learning", seed_path("seed002_split_no_learning"), corpus_path("d26")),
    ("divergence", corpus_path("d15"), corpus_path("d26")),        # d26: grad_norm NaN is not divergence
    ("blank_collapse", seed_path("seed003_ctc_blank"), corpus_path("d21")),
    ("lr_wasted", corpus_path("d01"), corpus_path("d36")),         # d36: the LR drop that works
    ("lr_oscillation", seed_path("seed004_resume_collapse"), corpus_path("d38")),  # d38: warm-up only
    ("resume_collapse", seed_path("seed004_resume_collapse"), corpus_path("d02")),
    ("small_val_set", seed_path("seed004_resume_collapse"), corpus_path("d30")),
    ("class_imbalance", seed_path("seed004_resume_collapse"), corpus_path("d17")),
    ("unstable_val", corpus_path("d12"), corpus_path("d30")),
    ("data_warning", seed_path("seed002_split_no_learning"), corpus_path("d29")),  # d29: deprecation only
])
def test_finding_on_real_logs(finding_id, positive, negative):
    found = ids_of(positive)
    assert finding_id in found, sorted(found)
    finding = found[finding_id]
    assert any(ch.isdigit() for ch in finding.evidence) and finding.action
    assert finding_id not in ids_of(negative)


def test_evidence_carries_the_numbers_of_the_post_mortems():
    seed004 = ids_of(seed_path("seed004_resume_collapse"))
    assert "0.7241" in seed004["resume_collapse"].evidence and "0.1724" in seed004["resume_collapse"].evidence
    assert "k/29" in seed004["small_val_set"].evidence
    assert seed004["resume_collapse"].epoch == 22
    seed001 = ids_of(seed_path("seed001_msa_overfit"))
    assert "1.63" in seed001["overfitting"].evidence
    seed000 = ids_of(seed_path("seed000_tcn_plateau"))
    assert seed000["lr_wasted"].action.startswith("stop the run")


def test_nan_loss_is_critical_divergence(tmp_path):
    path = native_log(tmp_path, 12, lambda e: {"loss": 1.0 / (e + 1) if e < 8 else math.nan, "val_loss": 1.2})
    finding = ids_of(path)["divergence"]
    assert finding.severity == "critical" and finding.epoch == 8


def test_stated_small_val_set_and_class_imbalance(tmp_path):
    def values(epoch):
        return {"loss": 1 / (epoch + 1), "val_acc": 0.5 + epoch / 100, "val_acc_cat": 0.95, "val_acc_dog": 0.1}
    found = ids_of(native_log(tmp_path, 10, values, dataset_sizes={"val": 40}))
    assert "40 samples" in found["small_val_set"].evidence
    assert "'dog'" in found["class_imbalance"].title


def test_resume_collapse_against_the_previous_segment(tmp_path):
    path = str(tmp_path / "events.jsonl")
    with RunLog(path) as log:
        log.run_start()
        for epoch in range(10):
            log.metrics(epoch=epoch, loss=1 / (epoch + 1), val_accuracy=0.5 + 0.03 * epoch)
        log.run_start(resumed_from="ckpt/last.pt", start_epoch=10)
        for epoch, accuracy in zip(range(10, 16), (0.2, 0.3, 0.5, 0.7, 0.75, 0.78)):
            log.metrics(epoch=epoch, loss=0.1, val_accuracy=accuracy)
    finding = ids_of(path)["resume_collapse"]
    assert "before the resume" in finding.evidence and finding.segment == 1


def test_healthy_run_has_no_findings(tmp_path):
    path = native_log(tmp_path, 30, lambda e: {"loss": 2 / (e + 2), "val_loss": 2.2 / (e + 2) + 0.01,
                                               "val_accuracy": 0.9 - 0.5 / (e + 1), "lr": 1e-3})
    assert ids_of(path) == {}


@pytest.mark.parametrize("path", [seed_path("seed004_resume_collapse"), corpus_path("d02"), seed_path("seed003_ctc_blank"),
                                  corpus_path("d53"), corpus_path("d56"), corpus_path("d64")])
def test_incremental_engine_matches_whole_file(path):
    records = read_target(path).records
    whole = RunModel()
    whole.apply(records)
    expected = [f.to_json() for f in DiagnosisEngine().update(whole)]
    live, engine = RunModel(), DiagnosisEngine()
    for start in range(0, len(records), 7):
        live.apply(records[start: start + 7])
        findings = engine.update(live)
    assert [f.to_json() for f in findings] == expected


def test_engine_reuses_unchanged_segments():
    records = read_target(corpus_path("d29")).records
    model, engine = RunModel(), DiagnosisEngine()
    model.apply(records)
    engine.update(model)
    cached = dict(engine._cache)
    engine.update(model)
    assert all(engine._cache[key] is cached[key] for key in cached)


def test_one_registry_holds_every_finding_its_thresholds_and_presets():
    from tui.diagnosis.config import DEFAULTS
    from tui.diagnosis.registry import KINDS, REGISTRY
    from tui.runs.presets import load_presets

    assert set(KINDS) == set(DEFAULTS) - {"common"}
    presets, problems = load_presets()
    assert not problems and presets["higher-lr"].summary() == "lr x5, warmup = 2"
    for kind in REGISTRY:
        assert kind.tests and kind.action and kind.thresholds is DEFAULTS[kind.id]
        assert kind.preset is None or (kind.preset in presets and f"'{kind.preset}'" in kind.action), kind.id
        assert set(kind.supersedes) | set(kind.explains) <= set(KINDS)
    assert KINDS["lr_wasted"].preset is None and KINDS["lr_wasted"].action.startswith("stop the run")


def test_causes_come_first_and_a_symptom_carries_its_causes_fix(tmp_path):
    def values(epoch):
        return {"loss": 2.0 / (epoch + 1) if epoch < 6 else math.nan, "val_loss": 2.2 / (epoch + 1),
                "val_wer": 0.6 if epoch < 4 else 1.0}
    found = list(diagnose_target(native_log(tmp_path, 14, values))[1])
    ids = [finding.id for finding in found]
    assert ids.index("divergence") < ids.index("blank_collapse"), ids
    blank = next(f for f in found if f.id == "blank_collapse")
    assert blank.explained_by == "divergence" and "after divergence: loss became NaN/Inf (epoch 6)" in blank.evidence
    assert blank.preset == "lower-lr"


def test_warm_restarts_are_lr_oscillation_not_cuts_and_a_resume_is_no_evidence_of_no_learning():
    found = ids_of(seed_path("seed004_resume_collapse"))
    assert "lr_oscillation" in found and "lr_wasted" not in found
    assert "no_learning" not in found and "overfitting" in found
    assert found["overfitting"].preset == "regularize"  # judged on the run's own evaluations, not the checkpoint's


def test_a_run_that_learned_and_then_overfit_is_not_no_learning(tmp_path):
    val = [0.56, 0.66, 0.74, 0.72, 0.70, 0.69, 0.67, 0.66, 0.64, 0.63, 0.61, 0.60]
    path = native_log(tmp_path, len(val), lambda e: {"loss": 1.0 / (e + 1), "val_accuracy": val[e],
                                                      "accuracy": 0.6 + 0.03 * e})
    found = ids_of(path)
    assert "overfitting" in found and "no_learning" not in found, sorted(found)


def test_one_noise_estimate_per_metric_in_a_report():
    import re

    _, findings = diagnose_target(seed_path("seed001_msa_overfit"))
    quoted = {float(n) for f in findings for n in re.findall(r"noise ±([0-9.e-]+)", f.evidence)}
    assert len(quoted) == 1, [f.evidence for f in findings]


def test_epochs_read_as_the_user_would():
    from tui.model.number_format import when

    assert when(10.333333, 1234) == "epoch 10.3" and when(12.0, None) == "epoch 12" and when(None, 50) == "step 50"


def test_a_model_with_several_heads_is_judged_by_its_overall_loss():
    """d43: two heads (power MAE, efficiency accuracy); the expert reads the summed val_loss, whose best
    is at epoch 65, not one head's accuracy."""
    from tui.diagnosis.segment_view import SegmentView

    model, _ = diagnose_target(corpus_path("d43"))
    assert SegmentView(model.segments[-1]).main_val.name == "val_loss"
    plateau = ids_of(corpus_path("d43"))["plateau"]
    assert "val_loss 0.0269 at epoch 65" in plateau.evidence, plateau.evidence


def test_unstable_validation_evidence_supports_it():
    """The turns counted are the ones shown: a count above zero, with the swing itself (seed001's val
    MAE jumping while training falls smoothly)."""
    import re

    found = ids_of(seed_path("seed001_msa_overfit"))["unstable_val"]
    val_turns, train_turns = (int(n) for n in re.findall(r"(\d+) times", found.evidence))
    assert val_turns >= 3 and val_turns >= 3 * train_turns, found.evidence
    assert re.search(r"e\.g\. [0-9.]+ \(epoch \d+\) -> [0-9.]+ \(epoch \d+\) -> [0-9.]+ \(epoch \d+\)", found.evidence)


def test_a_stalled_metric_is_no_plateau_while_the_val_loss_still_improves():
    """d17: val_acc at 99.7% stops making new bests beyond its noise, the val loss still falls to the
    end; d21: WER wobbles while eval_loss falls at every evaluation. Neither is a run to stop."""
    assert "plateau" not in ids_of(corpus_path("d17")) and "plateau" not in ids_of(corpus_path("d21"))


def test_a_training_loss_that_never_leaves_its_start_is_no_learning_whatever_val_accuracy_drifts_to():
    """d08: loss 2.21 -> 2.11 near ln(9), val_accuracy 0.13 -> 0.19 of 9 classes."""
    found = ids_of(corpus_path("d08"))
    assert "no_learning" in found and "plateau" not in found
    assert "overfitting" not in found  # training that never left its start did not "keep improving"
    assert "loss 2.211 at the start" in found["no_learning"].evidence, found["no_learning"].evidence


def test_a_quality_target_that_never_moves_beyond_a_tenth_of_a_percent_is_no_learning():
    """d69 (MLPerf DLRM): AUC 0.5002, chance, over 20 evaluations: its gains clear its own tiny noise
    (±3e-06) but are no lasting gain of 0.1% of its level; d68 (RNN-T): its WER falls to the target."""
    found = ids_of(corpus_path("d69"))
    assert "no_learning" in found, sorted(found)
    assert "0.1% of its level" in found["no_learning"].evidence, found["no_learning"].evidence
    assert ids_of(corpus_path("d68")) == {}


def test_a_copied_evaluation_counts_once_and_a_run_ending_at_its_best_is_no_plateau():
    """d56 (YOLOv5 validating every other epoch): each result is written twice; counted once, the
    lasting best is no lucky pair, so no overfitting, and mAP swinging 30%+ while the box loss turns
    by 10% is unstable. d65: ValAcc ends at its best (77.2, within its ±2.8 noise of 75.9): no plateau."""
    d56 = ids_of(corpus_path("d56"))
    assert {"plateau", "unstable_val"} <= set(d56) and "overfitting" not in d56, sorted(d56)
    d65 = ids_of(corpus_path("d65"))
    assert "unstable_val" in d65 and "plateau" not in d65, sorted(d65)


def test_a_pipeline_stage_is_its_own_run_and_a_resumed_flat_run_is_no_learning_only_when_stuck():
    """d53: four stages in one CSV, each resuming its own epoch counter; a "phase" column that changes
    while the counter jumps starts a run, so the next stage's loss is no divergence of the last one.
    Resumed stage-3 runs that improve by a little are converged, not "no learning"; d42's resumed
    fine-tune whose val_accuracy is 0.2000 at every evaluation is stuck, and is no_learning."""
    model, findings = diagnose_target(corpus_path("d53"))
    assert len(model.segments) == 16
    found = {finding.id: finding for finding in findings}
    assert "divergence" not in found and "no_learning" in found
    assert "val_loss 2.29" in found["no_learning"].evidence and "3 other run" in found["no_learning"].evidence  # the 4 phase-2 runs at ln(10)
    assert "no_learning" in ids_of(corpus_path("d42"))


def test_validation_that_wobbles_back_to_its_best_is_no_overfitting_and_a_noisy_gain_is_no_wasted_cut():
    """d51: val_loss back at 32.9 (its best 30.1, noise ±9) among its last evaluations is a wobble;
    d07's steady rise from its best (0.457 -> 0.469, 0.498, 0.534) is overfitting. d54: val_acc
    76.9 -> 78.2 in the 4 evaluations after the LR cut, within its ±3.5 noise, is too short a look
    to call the cut wasted; d64's 10 flat evaluations after its third cut are."""
    assert "overfitting" not in ids_of(corpus_path("d51"))
    assert "overfitting" in ids_of(corpus_path("d07"))
    assert "lr_wasted" not in ids_of(corpus_path("d54"))
    assert "lr_wasted" in ids_of(corpus_path("d64"))


def test_a_pandas_history_index_is_the_epoch_and_its_wer_is_validation():
    """d46: ``,loss,val_loss,wer``: the unnamed index counts epochs, ``wer`` (from a validation
    callback, no val_wer beside it) is judged as the validation WER."""
    model, findings = diagnose_target(corpus_path("d46"))
    wer = model.segments[0].series["wer"]
    assert wer.meta.split == "val" and list(wer.epochs[:2]) == [0, 1]
    found = {finding.id: finding for finding in findings}
    assert "unstable_val" in found and found["unstable_val"].evidence.startswith("wer turns back")
