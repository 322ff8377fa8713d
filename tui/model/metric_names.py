"""What a metric's name says: its split (train/val/test), its base name and its goal direction."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Prefixes and suffixes that name the data split. Order matters: longest first.
_SPLIT_PREFIXES = (
    ("validation_", "val"), ("validation ", "val"), ("valid_", "val"), ("valid ", "val"), ("val_", "val"),
    ("val ", "val"), ("val/", "val"), ("eval_", "val"), ("eval/", "val"), ("dev_", "val"),
    ("metrics/", "val"), ("test_", "test"), ("test/", "test"), ("test ", "test"),
    ("training_", "train"), ("training ", "train"), ("train_", "train"), ("train ", "train"),
    ("train/", "train"),
)
_STEP_SUFFIXES = ("_epoch", "_step")

# Base-name words that say which way is better. Checked as whole tokens of the base name.
_LOWER_IS_BETTER = (
    "loss", "mae", "mse", "rmse", "wer", "cer", "uer", "per", "ter", "perplexity", "ppl", "error", "err",
    "nll", "class_error", "distance", "fid", "edit_distance",
)
_HIGHER_IS_BETTER = (
    "acc", "accuracy", "acc1", "acc5", "top1", "top5", "f1", "auc", "pcc", "bleu", "map", "map50",
    "map50-95", "map75", "precision", "recall", "r2", "spearman", "pearson", "iou", "miou", "dice",
    "rouge", "meteor", "ap", "ap50", "ap75", "mcc", "kappa", "coco_eval_bbox[0]", "correlation", "corr",
    "mean_token_accuracy", "exact_match", "em", "psnr", "ssim", "score", "prec", "prec1", "prec5",
)
# Names that are bookkeeping, not quality: never goals, never diagnosed.
_NOT_METRICS = {
    "epoch", "step", "global_step", "iteration", "iter", "time", "wall", "wall_time", "timestamp",
    "data_time", "eta_seconds", "eta", "runtime", "samples_per_second", "steps_per_second",
    "num_tokens", "ntokens", "nsentences", "n_parameters", "bsz", "wpb", "wps", "ups", "gb_free",
    "loss_scale", "num_updates", "train_wall", "total_flos", "clip", "gnorm", "grad_norm",
    "total_time", "memory", "max_mem", "lambda_weights", "alpha", "oom", "rank", "seed",
    # The length a run was set to, beside the epoch counter (d53's total_epochs); speed.
    "total_epochs", "num_epochs", "max_epochs", "total_steps", "max_steps", "throughput",
    # Time per batch and the data-loading meter of the ImageNet-example AverageMeters ("Data 3.19").
    "data", "batch_time", "ms/batch", "s/batch", "ms/step", "s/it", "it/s",
    "samples/sec", "samples/s", "tokens/s", "tok/s", "img/s", "images/sec", "sec/it", "s/iter", "ms/it",
}
# Of those, the run's speed and its clock: the header says how fast the run goes; as table rows
# or charts they only push the metrics out of sight.
SPEED_NAMES = frozenset((
    "time", "wall", "wall_time", "timestamp", "data_time", "eta_seconds", "eta", "runtime", "samples_per_second",
    "steps_per_second", "wps", "ups", "train_wall", "total_time", "throughput", "data", "batch_time",
    "ms/batch", "s/batch", "ms/step", "s/it", "it/s", "samples/sec", "samples/s", "tokens/s", "tok/s", "img/s",
    "images/sec", "sec/it", "s/iter", "ms/it",
))
# Bases that only an evaluation produces: decoding a whole utterance or sentence (WER, BLEU),
# ranking detections over a dataset (mAP). Accuracy, AUC or MAE are not here: trainers compute
# those on training batches too (Keras ``acc`` beside ``val_acc``).
EVALUATION_ONLY_BASES = frozenset((
    "wer", "cer", "uer", "ter", "bleu", "sacrebleu", "chrf", "rouge", "rouge1", "rouge2", "rougel", "rougelsum",
    "meteor", "cider", "spice", "map", "map50", "map50-95", "map75", "ap", "ap50", "ap75", "aps", "apm", "apl",
    "f1", "exact_match", "em", "miou", "fid",
))
# Whole bases that are the learning rate.
_LR_BASES = {"lr", "learning_rate", "learning rate", "lr-adamw", "lr-adam", "lr-sgd", "lr/pg0"}

# Metrics in this family are bounded: values are fractions or percentages.
BOUNDED_BASES = ("acc", "accuracy", "acc1", "acc5", "top1", "top5", "prec", "prec1", "prec5", "f1", "auc", "wer", "cer", "uer",
                 "precision", "recall", "map", "map50", "map50-95", "iou", "miou", "dice", "ap",
                 "mean_token_accuracy", "exact_match", "class_error")

# Which quality metric is "the main one" when several are logged: error rates of sequence
# models first, then classification, then regression. Loss comes last.
_MAIN_METRIC_PRIORITY = ("wer", "cer", "uer", "map50-95", "map", "ap", "coco_eval_bbox[0]", "acc1",
                         "accuracy", "acc", "f1", "auc", "bleu", "mae", "rmse", "pcc", "spearman",
                         "r2", "dice", "iou", "perplexity", "ppl")


@dataclass(frozen=True, slots=True)
class MetricName:
    """A parsed metric name: ``val_accuracy`` -> split "val", base "accuracy", goal "max"."""

    name: str
    split: str  # "train", "val", "test" or "" (unsaid: training, for losses)
    base: str
    goal: str | None  # "min", "max" or None when the name says nothing
    is_lr: bool
    is_metric: bool  # False for bookkeeping columns (time, grad_norm, ...)

    @property
    def is_loss(self) -> bool:
        return "loss" in _tokens(self.base) or self.base.endswith("loss")

    @property
    def bounded(self) -> bool:
        return any(token in BOUNDED_BASES for token in _tokens(self.base))


def _camel_to_snake(name: str) -> str:
    # ValSpearman -> val_spearman, TrainLoss -> train_loss; keeps ALLCAPS words together.
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)


def _tokens(base: str) -> list[str]:
    return [token for token in re.split(r"[_\s/\-()]+", base) if token] + [base]


@lru_cache(maxsize=4096)
def parse_metric_name(name: str) -> MetricName:
    """Split a metric name into its parts; cached because every record asks again."""
    raw = name.strip()
    lowered = _camel_to_snake(raw.replace("mAP", "map")).lower().strip()
    lowered = re.sub(r"\s+", " ", lowered)
    # x/lr0: YOLOv5's learning rate per parameter group; lr/pg0: YOLOv8's.
    if lowered in _LR_BASES or re.fullmatch(r"(train_)?lr(-\w+)?|lr/(pg)?\d+|x/lr\d+|(learning[ _]rate)(_\w+)?", lowered):
        return MetricName(raw, "", "lr", None, True, False)
    split, base = "", lowered
    for prefix, split_name in _SPLIT_PREFIXES:
        if base.startswith(prefix):
            split, base = split_name, base[len(prefix):]
            break
    for suffix in _STEP_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
    base = base.replace(" ", "_").strip("_")
    # YOLO: metrics/mAP50(B) -> map50; ultralytics tags box (B) and mask (M) metrics.
    base = re.sub(r"\((b|m)\)$", "", base)
    # YOLOv5 spells the IoU range (mAP_0.5:0.95, older mAP@.5:.95); YOLOv8 says mAP50-95: one base.
    base = re.sub(r"map[_@]0?\.5:0?\.95", "map50-95", base)
    base = re.sub(r"map[_@]0?\.5(?![\d:])", "map50", base)
    # Top-k as the ImageNet example prints it: Acc@1, Prec@5 -> acc1, prec5.
    base = re.sub(r"^(acc|prec|top)@(\d+)$", r"\1\2", base)
    if base in _NOT_METRICS or base.split("/")[-1] in _NOT_METRICS or split + "_" + base in _NOT_METRICS:
        return MetricName(raw, split, base, None, False, False)
    # valid_best_wer and the like repeat the best so far: bookkeeping, not a new measurement.
    if (base.endswith(("_runtime", "_per_second", "_samples", "_time", "_time_s", "_time_sec", "_seconds"))
            or base.startswith(("num_", "best_"))):
        return MetricName(raw, split, base, None, False, False)
    return MetricName(raw, split, base, goal_of(base), False, True)


def goal_of(base: str) -> str | None:
    """Goal direction from a base name: "min" for losses and error rates, "max" for scores."""
    if base in _HIGHER_IS_BETTER:
        return "max"
    if base in _LOWER_IS_BETTER:
        return "min"
    tokens = _tokens(base)
    if any(token in _LOWER_IS_BETTER for token in tokens) or base.endswith("loss"):
        return "min"
    if any(token in _HIGHER_IS_BETTER for token in tokens) or "coco_eval" in base:
        return "max"
    return None


def main_metric_rank(base: str) -> int:
    """Smaller is more likely the metric people watch; losses rank last."""
    for rank, key in enumerate(_MAIN_METRIC_PRIORITY):
        if base == key or key in _tokens(base):
            return rank
    return len(_MAIN_METRIC_PRIORITY) + (1 if "loss" in base else 0)


def is_evaluation_only(meta: MetricName) -> bool:
    """A metric that only an evaluation pass produces (WER, BLEU, mAP, F1), whatever its name says."""
    return meta.is_metric and not meta.is_loss and any(token in EVALUATION_ONLY_BASES for token in _tokens(meta.base))


def evaluation_roles(names: list[str]) -> dict[str, str]:
    """The names that are validation metrics though no prefix says so: an evaluation-only metric
    (``WER(Norm)``, ``BLEU``, a Keras History's ``wer`` from a validation callback) with no
    validation counterpart (``val_wer``) beside it. Where the counterpart exists the unprefixed
    name is the training one, as in Keras (``acc``/``val_acc``)."""
    metas = [parse_metric_name(name) for name in names]
    validated = {meta.base for meta in metas if meta.split == "val"}
    return {name: "val" for name, meta in zip(names, metas)
            if meta.split == "" and meta.base not in validated and is_evaluation_only(meta)}
