"""Evaluation of the emotion predictions against human ground-truth annotations.

Everything here is scored per frame: each sampled frame of a session is looked up in the session's
annotation (intervals ``[start_s, end_s)``, the last interval closed at its end) at its ``time_s``,
and the emotion of the interval containing it is that frame's ground truth. Frames outside every
interval have no ground truth and are left out of every metric (their number is reported).

Every method is scored on the same frames, always against the human annotation and never against
pseudo labels, from one per-frame table of their decisions
(:func:`emotiontrack.comparison.frame_scores`): the per-frame CNN's argmax (from the features
file; it exists only where a face was found), the baselines, each sequence model, and ``chosen``,
the predictions' own ``label`` (the method chosen on the validation sessions, as applied).

Two frame subsets are scored (:func:`evaluation_metrics`):

* **face frames**: frames with a face found and ground truth; every method is scored on exactly
  these frames, so their numbers are comparable;
* **all frames**: every frame with ground truth. A method that makes no prediction at a frame is
  counted wrong there (CNN: no face found; others: no output), and its coverage (fraction of
  frames it predicts) is reported.

Macro-F1 is the unweighted mean of the per-class F1 over the emotions that occur in the ground truth
of the frames being scored (listed under ``macro_over``): an emotion nobody showed cannot be
recalled, so it would only drag the mean to zero.
"""

from __future__ import annotations

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

from emotiontrack.annotations import (
    _is_missing,
    _name_map,
)
from emotiontrack.labels import canonical

NO_GROUND_TRUTH = "no sessions with ground truth"

SUBSETS = {"face_frames": "Face frames", "all_frames": "All annotated frames"}


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


def _subset(truth: np.ndarray, labels: dict[str, np.ndarray], rows: np.ndarray, emotions, full):
    """Every method's metrics on the frames ``rows`` (``full``: keep per-class and confusion)."""
    res: dict[str, Any] = {"n": int(rows.sum())}
    for method, pred in labels.items():
        m = classification_metrics(truth[rows], pred[rows], emotions)
        res[method] = m if full else {k: m[k] for k in _SUMMARY_KEYS}
    return res


def evaluation_metrics(
    table: pd.DataFrame, methods: list[str], sessions: list[dict], emotions: list[str]
) -> dict:
    """The metrics of a per-frame score table (:func:`emotiontrack.comparison.frame_scores`:
    ``session``, ``face_found``, ``visible``, ``truth`` and one label column per method), for
    the sessions described in ``sessions`` (``session``, ``participant``, ``condition``,
    ``predictions``, ``annotation``, ``visibility_annotated``), all methods on both subsets.

    Returns ``has_ground_truth``, ``message``, ``pooled`` {``n_frames``, ``n_truth_frames``,
    ``detection``, ``face_frames``: {``n``, <method>: METRICS, ...}, ``all_frames``: the same}
    and ``per_session`` [{session, participant, condition, predictions, annotation, n_frames,
    n_truth_frames, n_face_frames, detection, face_frames: {n, <method>: SUMMARY},
    all_frames: ..., [note]}]. METRICS is :func:`classification_metrics`' dict; SUMMARY its
    n, n_predicted, coverage, accuracy, macro_f1 and macro_over."""
    truth = table["truth"].to_numpy(object)
    found = table["face_found"].to_numpy(bool)
    has_truth = truth != ""
    labels = {m: table[m].to_numpy(object) for m in methods}
    per_session, detections = [], []
    for s in sessions:
        rows = (table["session"] == s["session"]).to_numpy()
        visible = table["visible"].to_numpy(float)[rows] if s["visibility_annotated"] else None
        det = _detection(found[rows].astype(int), visible)
        detections.append(det)
        face = rows & has_truth & found
        entry = {
            **{k: s[k] for k in ("session", "participant", "condition", "predictions")},
            "annotation": s["annotation"],
            "n_frames": int(rows.sum()),
            "n_truth_frames": int((rows & has_truth).sum()),
            "n_face_frames": int(face.sum()),
            "detection": det,
            "face_frames": _subset(truth, labels, face, emotions, False),
            "all_frames": _subset(truth, labels, rows & has_truth, emotions, False),
        }
        if not (rows & has_truth).any():
            entry["note"] = "the annotation covers none of this session's frame times"
        per_session.append(entry)
    n_truth = int(has_truth.sum())
    pooled: dict[str, Any] = {
        "n_frames": len(table),
        "n_truth_frames": n_truth,
        "detection": _pool_detection(detections),
    }
    if n_truth == 0:
        for sub in SUBSETS:
            pooled[sub] = {"n": 0, **{m: None for m in methods}}
        message = NO_GROUND_TRUTH
    else:
        pooled["face_frames"] = _subset(truth, labels, has_truth & found, emotions, True)
        pooled["all_frames"] = _subset(truth, labels, has_truth, emotions, True)
        message = f"{n_truth} frames with ground truth in {len(per_session)} session(s)"
    return {
        "has_ground_truth": n_truth > 0,
        "message": message,
        "pooled": pooled,
        "per_session": per_session,
    }
