"""Evaluation of the emotion predictions against human ground-truth annotations.

Everything here is scored per frame: each frame of a predictions CSV is looked up in the session's
annotation (intervals ``[start_s, end_s)``, the last interval closed at its end) at its ``time_s``,
and the emotion of the interval containing it is that frame's ground truth. Frames outside every
interval have no ground truth and are left out of every metric (their number is reported).

Two methods are compared, always against the human annotation and never against pseudo labels:

* **CNN**: the per-frame classifier's argmax (``cnn_label``), which exists only where a face was
  found;
* **LSTM**: the sequence model's prediction (``label``), which may be missing (e.g. before its
  window is full).

Two frame subsets are scored:

* **face frames**: frames with ``face_found == 1`` and ground truth. CNN and LSTM are scored on
  exactly the same frames, so their numbers are comparable;
* **all frames**: every frame with ground truth. A method that makes no prediction at a frame is
  counted wrong there (CNN: no face found; LSTM: empty ``label``), and its coverage (fraction of
  frames it predicts) is reported.

Macro-F1 is the unweighted mean of the per-class F1 over the emotions that occur in the ground truth
of the frames being scored (listed under ``macro_over``): an emotion nobody showed cannot be
recalled, so it would only drag the mean to zero.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from emotiontrack import UserInputError
from emotiontrack.labels import FER2013_CODES, canonical

ANNOTATION_COLUMNS = ("start_s", "end_s", "emotion")
PREDICTION_COLUMNS = ("time_s", "face_found", "label", "cnn_label")
# Annotation intervals may touch; a later interval may start this much (seconds) before the
# previous one ends without counting as an overlap (rounding in annotation tools).
OVERLAP_TOLERANCE_S = 1e-6
NO_GROUND_TRUTH = "no sessions with ground truth"
# Emotions an annotation may name although the study's list leaves them out (a 5-class CK+
# study scoring 7-class annotations): their intervals are not scored. Any other name is an error.
OTHER_KNOWN_EMOTIONS = {*FER2013_CODES.values(), "contempt"}

METHODS = {"cnn": "CNN (per frame)", "lstm": "Chosen method"}
SUBSETS = {"face_frames": "Face frames", "all_frames": "All annotated frames"}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _name_map(emotions: Sequence[str]) -> dict[str, str]:
    """Map the canonical form of each study emotion to its spelling in the study's list."""
    if len(emotions) == 0:
        raise ValueError("the emotion list is empty")
    mapping: dict[str, str] = {}
    for e in emotions:
        key = canonical(str(e))
        if key in mapping:
            raise ValueError(f"emotion list has duplicates after normalisation: {list(emotions)}")
        mapping[key] = str(e)
    return mapping


def _is_missing(value: Any) -> bool:
    """True for None, NaN/NA and blank strings (a missing prediction)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _line(i: int) -> str:
    """Describe 0-based data row ``i`` of a CSV with one header line, for error messages."""
    return f"row {i + 1} (line {i + 2} of the file)"


def _read_csv(path: str | os.PathLike, kind: str) -> pd.DataFrame:
    """Read a CSV, turning unreadable or empty files into UserInputError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{kind} file '{p}' does not exist (check the path in the config)")
    try:
        df = pd.read_csv(p, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise UserInputError(f"{kind} file '{p}' is empty (expected a CSV with a header)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{kind} file '{p}' is not a readable CSV: {exc}") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


def _numeric_column(df: pd.DataFrame, col: str, path: Path, kind: str) -> np.ndarray:
    """Column ``col`` as float; UserInputError naming the first non-numeric/non-finite row."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserInputError(
            f"{kind} file '{path}', {_line(i)}: {col} must be a finite number, "
            f"got {df[col].iloc[i]!r}"
        )
    return values


def _binary_column(df: pd.DataFrame, col: str, path: Path, kind: str) -> np.ndarray:
    """Column ``col`` as int 0/1; UserInputError naming the first row holding anything else."""
    raw = df[col]
    if raw.dtype == bool:
        return raw.to_numpy(dtype=int)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserInputError(
            f"{kind} file '{path}', {_line(i)}: {col} must be 0 or 1, got {raw.iloc[i]!r}"
        )
    return values.astype(int)


def _to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats (-> None) for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


# --------------------------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------------------------


def load_annotation(path: str | os.PathLike, emotions: list[str]) -> pd.DataFrame:
    """Read and validate a ground-truth annotation CSV.

    Columns ``start_s, end_s, emotion`` (required) and ``face_visible`` (optional, 0/1); column
    names are matched case-insensitively, other columns are ignored. Intervals must have numeric
    times with ``start_s < end_s``, be sorted by time and not overlap (gaps are allowed: frames in a
    gap have no ground truth). Emotions are matched case-insensitively (and through the synonyms of
    :func:`emotiontrack.labels.canonical`, e.g. ``anger``) against ``emotions``; an interval of a
    known emotion the study does not classify (``neutral`` in a 5-class study) gets emotion ``''``
    and is not scored, like a gap.

    Returns a DataFrame with ``start_s``, ``end_s`` (float), ``emotion`` (spelled as in
    ``emotions``) and, if present, ``face_visible`` (int). Raises UserInputError naming the file
    and the first bad row.
    """
    p = Path(path)
    kind = "annotation"
    names = _name_map(emotions)
    df = _read_csv(p, kind)
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        raise UserInputError(
            f"{kind} file '{p}' lacks column(s) {', '.join(missing)}; it needs "
            f"{', '.join(ANNOTATION_COLUMNS)} (and optionally face_visible); found: "
            f"{', '.join(df.columns) or 'none'}"
        )
    if len(df) == 0:
        raise UserInputError(f"{kind} file '{p}' has a header but no intervals")

    start = _numeric_column(df, "start_s", p, kind)
    end = _numeric_column(df, "end_s", p, kind)
    for i in range(len(df)):
        if not start[i] < end[i]:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: start_s ({start[i]:g}) must be less than "
                f"end_s ({end[i]:g})"
            )
        if i > 0 and start[i] < start[i - 1]:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: intervals must be sorted by start_s; this one "
                f"starts at {start[i]:g}, before the previous one ({start[i - 1]:g})"
            )
        if i > 0 and start[i] < end[i - 1] - OVERLAP_TOLERANCE_S:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: interval {start[i]:g}-{end[i]:g} overlaps the "
                f"previous one, which ends at {end[i - 1]:g}"
            )

    labels: list[str] = []
    for i, raw in enumerate(df["emotion"].tolist()):
        if _is_missing(raw):
            raise UserInputError(f"{kind} file '{p}', {_line(i)}: emotion is empty")
        key = canonical(str(raw))
        if key not in names and key in OTHER_KNOWN_EMOTIONS:
            labels.append("")  # a real emotion the study does not classify: not scored
            continue
        if key not in names:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: emotion {str(raw)!r} is not in the study's "
                f"emotion list ({', '.join(emotions)})"
            )
        labels.append(names[key])

    out = pd.DataFrame({"start_s": start, "end_s": end, "emotion": pd.Series(labels, dtype=object)})
    if "face_visible" in df.columns:
        out["face_visible"] = _binary_column(df, "face_visible", p, kind)
    out.attrs["source"] = str(p)
    return out


def _interval_index(annotation: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each time, the index of the interval containing it and whether one does.

    Intervals are ``[start, end)``; the last one also contains its end point.
    """
    t = np.asarray(times, dtype=float)
    starts = annotation["start_s"].to_numpy(dtype=float)
    ends = annotation["end_s"].to_numpy(dtype=float)
    n = len(starts)
    if n == 0:
        return np.zeros(t.shape, dtype=int), np.zeros(t.shape, dtype=bool)
    idx = np.searchsorted(starts, t, side="right") - 1
    idx_c = np.clip(idx, 0, n - 1)
    inside = (idx >= 0) & ((t < ends[idx_c]) | ((idx_c == n - 1) & (t == ends[n - 1])))
    return idx_c, inside


def truth_at(annotation: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Ground-truth emotion at each time: the interval ``[start_s, end_s)`` containing it.

    The last interval is closed (its ``end_s`` belongs to it). Times outside every interval (before,
    after, in a gap, or NaN) get ``''``. Returns an object array of str shaped like ``times``.
    """
    idx, inside = _interval_index(annotation, times)
    out = np.full(idx.shape, "", dtype=object)
    if inside.any():
        labels = annotation["emotion"].to_numpy(dtype=object)
        out[inside] = labels[idx[inside]]
    return out


def visible_at(annotation: pd.DataFrame, times: np.ndarray) -> np.ndarray | None:
    """Annotated ``face_visible`` (0/1, as float) at each time, NaN outside the annotation.

    Uses the same interval lookup as :func:`truth_at`. Returns None when the annotation has no
    ``face_visible`` column.
    """
    if "face_visible" not in annotation.columns:
        return None
    idx, inside = _interval_index(annotation, times)
    out = np.full(idx.shape, np.nan, dtype=float)
    if inside.any():
        vis = annotation["face_visible"].to_numpy(dtype=float)
        out[inside] = vis[idx[inside]]
    return out


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


def _map_labels(values: Sequence[Any], names: dict[str, str]) -> tuple[np.ndarray, int | None]:
    """Map labels to the study's spelling (missing -> ''), one lookup per distinct value.

    Returns the mapped object array and the index of the first unknown label (None if none).
    """
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)  # None/NaN -> -1
    mapped: list[str | None] = []
    for u in uniques:
        if _is_missing(u):
            mapped.append("")
        else:
            mapped.append(names.get(canonical(str(u))))
    mapped.append("")  # code -1
    table = np.array(mapped, dtype=object)
    out = table[codes]
    unknown = np.flatnonzero(pd.isna(out)) if len(out) else np.zeros(0, dtype=int)
    return out, (int(unknown[0]) if len(unknown) else None)


def _normalise_labels(
    values: Sequence[Any], names: dict[str, str], what: str, allow_missing: bool
) -> np.ndarray:
    """Map labels to the study's spelling; missing -> '' (or ValueError if not allowed)."""
    out, bad = _map_labels(values, names)
    if bad is not None:
        raise ValueError(
            f"{what}[{bad}] = {values[bad]!r} is not in the emotion list {list(names.values())}"
        )
    if not allow_missing and np.any(out == ""):
        i = int(np.flatnonzero(out == "")[0])
        raise ValueError(f"{what}[{i}] is empty; filter frames without ground truth first")
    return out


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], emotions: list[str]
) -> dict:
    """Per-frame classification metrics of ``y_pred`` against ``y_true``.

    ``y_true`` must hold emotions of ``emotions`` (no blanks). In ``y_pred``, ``''``/None/NaN means
    "no prediction" and counts as wrong (it lowers accuracy and recall; it is not a column of the
    confusion matrix but is counted per true class under ``no_prediction``).

    Returns a dict with keys:

    * ``n``: number of frames; ``n_predicted``, ``coverage`` (fraction with a prediction);
    * ``accuracy``; ``macro_f1``: unweighted mean F1 over the emotions present in ``y_true``, which
      are listed (in ``emotions`` order) under ``macro_over``;
    * ``per_class``: ``{emotion: {precision, recall, f1, support}}`` for every emotion;
    * ``confusion``: list of lists, rows = truth, columns = prediction, both in ``emotions`` order;
    * ``no_prediction``: per true emotion, frames with no prediction.

    With ``n == 0`` accuracy, macro_f1 and coverage are None. sklearn, ``zero_division=0``.
    """
    names = _name_map(emotions)
    order = [names[canonical(e)] for e in emotions]
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    t = _normalise_labels(y_true, names, "y_true", allow_missing=False)
    p = _normalise_labels(y_pred, names, "y_pred", allow_missing=True)
    n = len(t)
    k = len(order)
    has_pred = p != ""
    no_pred = [int(np.sum((t == e) & ~has_pred)) for e in order]
    if n == 0:
        return {
            "n": 0,
            "n_predicted": 0,
            "coverage": None,
            "accuracy": None,
            "macro_f1": None,
            "macro_over": [],
            "per_class": {
                e: {"precision": None, "recall": None, "f1": None, "support": 0} for e in order
            },
            "confusion": [[0] * k for _ in range(k)],
            "no_prediction": no_pred,
        }

    # Integer codes (fast in sklearn): emotion j -> j, no prediction -> k, a label never true.
    code = {e: j for j, e in enumerate(order)}
    code[""] = k
    t_l = np.fromiter((code[x] for x in t), dtype=np.int64, count=n)
    p_l = np.fromiter((code[x] for x in p), dtype=np.int64, count=n)
    labels = list(range(k))
    present_codes = sorted(set(np.unique(t_l).tolist()))
    present = [order[j] for j in present_codes]
    prec, rec, f1, sup = precision_recall_fscore_support(
        t_l, p_l, labels=labels, average=None, zero_division=0
    )
    macro = f1_score(t_l, p_l, labels=present_codes, average="macro", zero_division=0)
    cm = confusion_matrix(t_l, p_l, labels=labels)
    return {
        "n": int(n),
        "n_predicted": int(has_pred.sum()),
        "coverage": float(has_pred.mean()),
        "accuracy": float(accuracy_score(t_l, p_l)),
        "macro_f1": float(macro),
        "macro_over": present,
        "per_class": {
            e: {
                "precision": float(prec[j]),
                "recall": float(rec[j]),
                "f1": float(f1[j]),
                "support": int(sup[j]),
            }
            for j, e in enumerate(order)
        },
        "confusion": cm.astype(int).tolist(),
        "no_prediction": no_pred,
    }


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------


def _save(fig: Figure, out_png: str | os.PathLike) -> None:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, dpi=120)


def _placeholder_png(out_png: str | os.PathLike, title: str, message: str) -> None:
    """A small PNG that states ``message`` instead of a plot."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=12)
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        fontsize=13,
        wrap=True,
        transform=ax.transAxes,
        color="0.25",
    )
    _save(fig, out_png)


def plot_confusion(
    confusion: np.ndarray | list,
    emotions: list[str],
    title: str,
    out_png: str | os.PathLike,
    normalize: bool = True,
    no_prediction: Sequence[int] | None = None,
) -> None:
    """Write a confusion-matrix heat map (rows = ground truth, columns = prediction) as a PNG.

    With ``normalize`` the colour is the row percentage and every cell shows its count and that
    percentage; otherwise the colour and the text are counts. ``no_prediction`` (optional, one
    count per true emotion) adds a "no prediction" column, so that row percentages on the diagonal
    equal recall when some frames were not predicted. Rows without frames are shown grey. If the
    matrix holds no frames at all, a placeholder image saying so is written. Uses the Agg canvas
    directly (no pyplot, no global backend change).
    """
    cm = np.asarray(confusion, dtype=float)
    k = len(emotions)
    if cm.shape != (k, k):
        raise ValueError(f"confusion has shape {cm.shape}, expected ({k}, {k}) for {emotions}")
    cols = list(emotions)
    if no_prediction is not None:
        extra = np.asarray(no_prediction, dtype=float).reshape(-1)
        if extra.shape != (k,):
            raise ValueError(f"no_prediction has {extra.size} values, expected {k}")
        cm = np.column_stack([cm, extra])
        cols.append("no prediction")
    if cm.sum() == 0:
        _placeholder_png(out_png, title, "no frames with ground truth to show")
        return

    row_tot = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(row_tot[:, None] > 0, cm / row_tot[:, None], np.nan)
    values = frac * 100 if normalize else np.where(row_tot[:, None] > 0, cm, np.nan)
    vmax = 100.0 if normalize else max(float(np.nanmax(values)), 1.0)

    nr, nc = cm.shape
    fig = Figure(figsize=(max(5.5, 1.05 * nc + 2.8), max(4.5, 0.8 * nr + 2.2)))
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(values)
    cmap = _blues()
    im = ax.imshow(masked, cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("% of the true emotion's frames" if normalize else "frames")

    fs = 10 if nc <= 8 else 8
    for i in range(nr):
        for j in range(nc):
            if row_tot[i] == 0:
                continue
            count = int(cm[i, j])
            text = f"{count}\n{frac[i, j] * 100:.0f}%" if normalize else f"{count}"
            dark = values[i, j] > 0.5 * vmax
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fs,
                color="white" if dark else "black",
                fontweight="bold" if i == j else "normal",
            )

    ax.set_xticks(range(nc))
    ax.set_xticklabels(cols, rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(nr))
    ax.set_yticklabels([f"{e} (n={int(row_tot[i])})" for i, e in enumerate(emotions)])
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Ground truth")
    ax.set_xticks(np.arange(-0.5, nc, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, nr, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    if no_prediction is not None:
        ax.axvline(nc - 1.5, color="0.3", linewidth=1.5)
    sub = "row-normalised: each cell = count and % of its row" if normalize else "counts"
    ax.set_title(f"{title}\n({sub})", fontsize=11)
    fig.tight_layout()
    _save(fig, out_png)


def _blues() -> Colormap:
    """The 'Blues' colour map with light grey for empty (masked) rows."""
    return colormaps["Blues"].with_extremes(bad="0.88")


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


def _load_predictions(path: str | os.PathLike, emotions: list[str]) -> pd.DataFrame:
    """Read a predictions CSV: ``time_s`` (float), ``face_found`` (0/1), ``label`` and
    ``cnn_label`` (study spelling, '' = no prediction; ``cnn_label`` forced '' where no face)."""
    p = Path(path)
    kind = "predictions"
    names = _name_map(emotions)
    df = _read_csv(p, kind)
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise UserInputError(
            f"{kind} file '{p}' lacks column(s) {', '.join(missing)}; found: "
            f"{', '.join(df.columns) or 'none'}"
        )
    time = _numeric_column(df, "time_s", p, kind)
    face = _binary_column(df, "face_found", p, kind)
    out = pd.DataFrame({"time_s": time, "face_found": face})
    for col in ("label", "cnn_label"):
        vals, bad = _map_labels(df[col].tolist(), names)
        if bad is not None:
            raise UserInputError(
                f"{kind} file '{p}', {_line(bad)}: {col} {str(df[col].iloc[bad])!r} is not in "
                f"the study's emotion list ({', '.join(emotions)}); was the model trained with "
                "another emotion list?"
            )
        out[col] = pd.Series(vals, dtype=object)
    out.loc[out["face_found"] == 0, "cnn_label"] = ""
    return out


def _detection(face_found: np.ndarray, visible: np.ndarray | None) -> dict:
    """Face detection against annotated visibility (``visible``: 1/0/NaN per frame or None)."""
    if visible is None:
        return {
            "available": False,
            "n_visible": 0,
            "n_detected_visible": 0,
            "detection_rate": None,
            "n_not_visible": 0,
            "n_false_detections": 0,
            "false_detection_rate": None,
        }
    vis = visible == 1
    not_vis = visible == 0
    n_vis, n_not = int(vis.sum()), int(not_vis.sum())
    det = int((face_found[vis] == 1).sum())
    false = int((face_found[not_vis] == 1).sum())
    return {
        "available": True,
        "n_visible": n_vis,
        "n_detected_visible": det,
        "detection_rate": det / n_vis if n_vis else None,
        "n_not_visible": n_not,
        "n_false_detections": false,
        "false_detection_rate": false / n_not if n_not else None,
    }


def _pool_detection(parts: list[dict]) -> dict:
    avail = [d for d in parts if d["available"]]
    if not avail:
        return _detection(np.zeros(0, dtype=int), None)
    n_vis = sum(d["n_visible"] for d in avail)
    det = sum(d["n_detected_visible"] for d in avail)
    n_not = sum(d["n_not_visible"] for d in avail)
    false = sum(d["n_false_detections"] for d in avail)
    return {
        "available": True,
        "n_sessions": len(avail),
        "n_visible": n_vis,
        "n_detected_visible": det,
        "detection_rate": det / n_vis if n_vis else None,
        "n_not_visible": n_not,
        "n_false_detections": false,
        "false_detection_rate": false / n_not if n_not else None,
    }


_SUMMARY_KEYS = ("n", "n_predicted", "coverage", "accuracy", "macro_f1", "macro_over")


def _subset_metrics(
    truth: np.ndarray, cnn: np.ndarray, lstm: np.ndarray, emotions: list[str], full: bool
) -> dict:
    """Metrics of both methods on one frame subset (``full``: keep per-class and confusion)."""
    res: dict[str, Any] = {"n": int(len(truth))}
    for key, pred in (("cnn", cnn), ("lstm", lstm)):
        m = classification_metrics(truth, pred, emotions)
        res[key] = m if full else {k: m[k] for k in _SUMMARY_KEYS}
    return res


def _empty_pooled() -> dict:
    return {
        "n_frames": 0,
        "n_truth_frames": 0,
        "face_frames": {"n": 0, "cnn": None, "lstm": None},
        "all_frames": {"n": 0, "cnn": None, "lstm": None},
        "detection": _detection(np.zeros(0, dtype=int), None),
    }


def evaluate_predictions(sessions: list[dict], emotions: list[str]) -> dict:
    """Score the CNN's and the sequence model's predictions of several sessions against their
    ground-truth annotations.

    ``sessions``: dicts with ``session``, ``participant``, ``condition``, ``predictions`` (CSV
    path) and ``annotation`` (CSV path; None/'' when the session has no ground truth, which skips
    it). A named annotation or predictions file that is missing or malformed raises
    UserInputError. See the module docstring for the subsets and the metric definitions; the
    returned dict is documented in :func:`evaluate_study`.
    """
    names = _name_map(emotions)
    order = [names[canonical(e)] for e in emotions]
    per_session: list[dict] = []
    skipped: list[dict] = []
    pooled_truth, pooled_cnn, pooled_lstm, pooled_face = [], [], [], []
    detections: list[dict] = []
    n_frames_total = 0

    for s in sessions:
        name = str(s.get("session", ""))
        ann_path = s.get("annotation")
        if _is_missing(ann_path):
            skipped.append({"session": name, "reason": "no annotation file"})
            continue
        ann = load_annotation(ann_path, order)
        pred = _load_predictions(s["predictions"], order)
        times = pred["time_s"].to_numpy(dtype=float)
        face_found = pred["face_found"].to_numpy(dtype=int)
        truth = truth_at(ann, times)
        has_truth = truth != ""
        face = has_truth & (face_found == 1)
        cnn = pred["cnn_label"].to_numpy(dtype=object)
        lstm = pred["label"].to_numpy(dtype=object)
        det = _detection(face_found, visible_at(ann, times))
        detections.append(det)
        n_frames_total += len(pred)

        pooled_truth.append(truth[has_truth])
        pooled_cnn.append(cnn[has_truth])
        pooled_lstm.append(lstm[has_truth])
        pooled_face.append(face[has_truth])

        entry = {
            "session": name,
            "participant": str(s.get("participant", "")),
            "condition": str(s.get("condition", "")),
            "predictions": os.fspath(s["predictions"]),
            "annotation": os.fspath(ann_path),
            "n_frames": int(len(pred)),
            "n_truth_frames": int(has_truth.sum()),
            "n_face_frames": int(face.sum()),
            "detection": det,
            "face_frames": _subset_metrics(truth[face], cnn[face], lstm[face], order, False),
            "all_frames": _subset_metrics(
                truth[has_truth], cnn[has_truth], lstm[has_truth], order, False
            ),
        }
        if not has_truth.any():
            entry["note"] = "the annotation covers none of this session's frame times"
        per_session.append(entry)

    result: dict[str, Any] = {
        "emotions": order,
        "n_sessions": len(sessions),
        "sessions_evaluated": [e["session"] for e in per_session],
        "sessions_skipped": skipped,
        "per_session": per_session,
    }
    n_truth = int(sum(len(t) for t in pooled_truth))
    if n_truth == 0:
        pooled = _empty_pooled()
        pooled["n_frames"] = n_frames_total
        pooled["detection"] = _pool_detection(detections)
        result.update(has_ground_truth=False, message=NO_GROUND_TRUTH, pooled=pooled)
        return result

    truth = np.concatenate(pooled_truth)
    cnn = np.concatenate(pooled_cnn)
    lstm = np.concatenate(pooled_lstm)
    face = np.concatenate(pooled_face)
    result.update(
        has_ground_truth=True,
        message=f"{n_truth} frames with ground truth in {len(per_session)} session(s)",
        pooled={
            "n_frames": n_frames_total,
            "n_truth_frames": n_truth,
            "face_frames": _subset_metrics(truth[face], cnn[face], lstm[face], order, True),
            "all_frames": _subset_metrics(truth, cnn, lstm, order, True),
            "detection": _pool_detection(detections),
        },
    )
    return result


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or "–"


def _markdown(result: dict, cnn_png: str, lstm_png: str) -> str:
    emotions = result["emotions"]
    pooled = result["pooled"]
    lines = ["# EmotionTrack: evaluation against ground truth", ""]
    lines += [
        "## What was evaluated and how",
        "",
        f"- Sessions given: {result['n_sessions']}; evaluated (with an annotation): "
        f"{len(result['sessions_evaluated'])}"
        + (
            "; skipped: "
            + ", ".join(
                f"{_md_cell(s['session'])} ({s['reason']})" for s in result["sessions_skipped"]
            )
            if result["sessions_skipped"]
            else ""
        )
        + ".",
        "- Scoring is **per frame**: each frame's `time_s` is looked up in the session's "
        "human annotation (interval `[start_s, end_s)`, last interval closed); that interval's "
        "emotion is the frame's ground truth. Frames outside every interval are not scored.",
        "- Both models are scored against this human ground truth only (never against pseudo "
        "labels). **CNN** = per-frame classifier (`cnn_label`); **Chosen method** = the "
        "method chosen on the validation sessions, named above (`label`).",
        "- **Face frames**: frames where a face was found and ground truth exists; CNN and the "
        "sequence model are scored on exactly these frames.",
        "- **All annotated frames**: every frame with ground truth; a missing prediction (CNN: no "
        "face found; sequence model: no output) counts as wrong. *Coverage* = fraction of "
        "frames a method predicts.",
        "- **Macro-F1** = unweighted mean of per-class F1 over the emotions that occur in the "
        "ground truth of the scored frames. Pooled numbers are computed over the frames of all "
        "sessions together.",
        "",
    ]
    if not result["has_ground_truth"]:
        lines += [
            f"**Result: {NO_GROUND_TRUTH}** — no frame could be scored, so no metrics are "
            "reported.",
            "",
            f"Confusion matrices (placeholders): [CNN]({cnn_png}), [sequence model]({lstm_png})",
            "",
        ]
        return "\n".join(lines)

    lines += [
        "## Pooled metrics",
        "",
        f"Frames in evaluated sessions: {pooled['n_frames']}; with ground truth: "
        f"{pooled['n_truth_frames']}; face frames: {pooled['face_frames']['n']}.",
        "",
        "| Subset | Frames | Method | Coverage | Accuracy | Macro-F1 |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for sub, sub_name in SUBSETS.items():
        block = pooled[sub]
        for key, meth in METHODS.items():
            m = block[key]
            lines.append(
                f"| {sub_name} | {block['n']} | {meth} | {_pct(m['coverage'])} | "
                f"{_f(m['accuracy'])} | {_f(m['macro_f1'])} |"
            )
    ff = pooled["face_frames"]
    if ff["n"]:
        c, lstm = ff["cnn"], ff["lstm"]
        lines += [
            "",
            "On face frames, chosen method minus CNN: accuracy "
            f"{lstm['accuracy'] - c['accuracy']:+.3f}, "
            f"macro-F1 {lstm['macro_f1'] - c['macro_f1']:+.3f}. Macro-F1 averages over: "
            f"{', '.join(c['macro_over'])}.",
        ]
    det = pooled["detection"]
    lines.append("")
    if det["available"]:
        lines.append(
            f"Face detection (annotated `face_visible`, {det['n_sessions']} session(s)): detected "
            f"in {det['n_detected_visible']}/{det['n_visible']} visible-face frames "
            f"({_pct(det['detection_rate'])}); false detections in "
            f"{det['n_false_detections']}/{det['n_not_visible']} no-face frames "
            f"({_pct(det['false_detection_rate'])})."
        )
    else:
        lines.append("Face detection rate: not available (no `face_visible` column annotated).")

    lines += [
        "",
        "## Per session",
        "",
        "Detection rate = frames with a face found among frames annotated `face_visible` = 1; "
        "false detections = faces found among frames annotated `face_visible` = 0 (– where not "
        "annotated). Accuracy and macro-F1 are on the session's face frames.",
        "",
        "| Session | Participant | Condition | Frames | Annotated | Face frames | Detection rate "
        "| False-detection rate | CNN acc | CNN macro-F1 | Seq. acc | Seq. macro-F1 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in result["per_session"]:
        d, f = e["detection"], e["face_frames"]
        lines.append(
            f"| {_md_cell(e['session'])} | {_md_cell(e['participant'])} | "
            f"{_md_cell(e['condition'])} | {e['n_frames']} | {e['n_truth_frames']} | "
            f"{e['n_face_frames']} | {_pct(d['detection_rate'])} | "
            f"{_pct(d['false_detection_rate'])} | {_f(f['cnn']['accuracy'])} | "
            f"{_f(f['cnn']['macro_f1'])} | {_f(f['lstm']['accuracy'])} | "
            f"{_f(f['lstm']['macro_f1'])} |"
        )
    notes = [e for e in result["per_session"] if "note" in e]
    for e in notes:
        lines.append(f"\nNote — {_md_cell(e['session'])}: {e['note']}.")

    lines += [
        "",
        "## Per class (pooled face frames)",
        "",
        "| Emotion | Support | CNN precision | CNN recall | CNN F1 | Seq. precision | Seq. recall "
        "| Seq. F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for emo in emotions:
        pc, pl = ff["cnn"]["per_class"][emo], ff["lstm"]["per_class"][emo]
        lines.append(
            f"| {_md_cell(emo)} | {pc['support']} | {_f(pc['precision'])} | {_f(pc['recall'])} | "
            f"{_f(pc['f1'])} | {_f(pl['precision'])} | {_f(pl['recall'])} | {_f(pl['f1'])} |"
        )
    lines += [
        "",
        "Support = face frames of that emotion in the ground truth; emotions with support 0 are "
        "not part of macro-F1.",
        "",
        "## Confusion matrices (pooled face frames, row-normalised)",
        "",
        f"- CNN: [{cnn_png}]({cnn_png})",
        f"- Chosen method: [{lstm_png}]({lstm_png})",
        "",
        f"![CNN confusion matrix]({cnn_png})",
        "",
        f"![Chosen method confusion matrix]({lstm_png})",
        "",
    ]
    return "\n".join(lines)


def evaluate_study(
    sessions: list[dict],
    emotions: list[str],
    out_json: str | os.PathLike,
    out_md: str | os.PathLike,
    out_cnn_png: str | os.PathLike,
    out_lstm_png: str | os.PathLike,
) -> dict:
    """Evaluate all sessions and write the JSON, the Markdown summary and two confusion PNGs.

    Returns the dict written to ``out_json``::

        emotions            study emotion order (rows/columns of every confusion matrix)
        n_sessions          sessions given
        sessions_evaluated  names of the sessions scored (those with an annotation)
        sessions_skipped    [{session, reason}] for sessions without an annotation
        has_ground_truth    False when no frame had ground truth (then ``message`` says
                            "no sessions with ground truth" and pooled metrics are None)
        message             one-line summary
        pooled              {n_frames, n_truth_frames,
                             face_frames: {n, cnn: METRICS, lstm: METRICS},
                             all_frames:  {n, cnn: METRICS, lstm: METRICS},
                             detection: {available, n_sessions, n_visible, n_detected_visible,
                                         detection_rate, n_not_visible, n_false_detections,
                                         false_detection_rate}}
        per_session         [{session, participant, condition, predictions, annotation,
                              n_frames, n_truth_frames, n_face_frames, detection,
                              face_frames: {n, cnn: SUMMARY, lstm: SUMMARY},
                              all_frames:  {n, cnn: SUMMARY, lstm: SUMMARY}, [note]}]
        outputs             {confusion_cnn_png, confusion_lstm_png}: paths relative to out_md's
                            folder (as linked from the Markdown)

    METRICS is :func:`classification_metrics`' dict (accuracy, macro_f1, macro_over, coverage,
    per_class, confusion, no_prediction, n, n_predicted); SUMMARY is its n, n_predicted, coverage,
    accuracy, macro_f1 and macro_over.
    """
    result = evaluate_predictions(sessions, emotions)
    md_path = Path(out_md)
    md_dir = md_path.parent

    def rel(p: str | os.PathLike) -> str:
        return Path(os.path.relpath(Path(p).resolve(), md_dir.resolve())).as_posix()

    cnn_rel, lstm_rel = rel(out_cnn_png), rel(out_lstm_png)
    result["outputs"] = {"confusion_cnn_png": cnn_rel, "confusion_lstm_png": lstm_rel}

    ff = result["pooled"]["face_frames"]
    for key, out in (("cnn", out_cnn_png), ("lstm", out_lstm_png)):
        title = f"{METHODS[key]} vs ground truth — face frames"
        m = ff[key]
        if m is None or m["n"] == 0:
            why = NO_GROUND_TRUTH if not result["has_ground_truth"] else "no face frames"
            _placeholder_png(out, title, f"{why}:\nnothing to evaluate")
            continue
        extra = m["no_prediction"] if any(m["no_prediction"]) else None
        plot_confusion(m["confusion"], result["emotions"], title, out, True, extra)

    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(_markdown(result, cnn_rel, lstm_rel), encoding="utf-8")
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with open(out_json, "w", encoding="utf-8") as fh:
        json.dump(_to_jsonable(result), fh, indent=2, allow_nan=False)
        fh.write("\n")
    return result
