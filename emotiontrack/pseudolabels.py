"""Pseudo labels: the CNN's per-frame decision, used as the sequence model's training targets.

They are NOT ground truth: nothing in the evaluation scores a model against them.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

NO_FACE = -1


def clean_probabilities(probabilities: np.ndarray, found: np.ndarray, window: int) -> np.ndarray:
    """(T, C) CNN probabilities cleaned in time: a centred moving median over ``window`` face
    frames (frames without a face skipped), renormalised; ``window`` <= 1 leaves them as they
    are. Rows without a face are 0."""
    from .baselines import moving_median

    probs = np.where(found[:, None], np.nan_to_num(np.asarray(probabilities, np.float64)), np.nan)
    if window > 1 and found.any():
        probs = moving_median(probs, window)
    return np.nan_to_num(probs)


def clean_labels(probabilities: np.ndarray, found: np.ndarray, window: int) -> np.ndarray:
    """Temporally cleaned pseudo labels (T,): the argmax of the CNN probabilities (T, C) after a
    centred moving median over ``window`` face frames (frames without a face skipped), so an
    isolated per-frame error is not taught as truth; ``window`` <= 1 gives the raw per-frame
    decision. -1 where there is no face."""
    labels = np.full(len(found), NO_FACE, np.int64)
    if found.any():
        labels[found] = clean_probabilities(probabilities, found, window)[found].argmax(axis=1)
    return labels


def make_pseudolabels(features_h5: str | Path, out_npy: str | Path, out_json: str | Path) -> dict:
    """Write ``out_npy``: a structured array (T,) with fields ``label`` (int, index into the
    emotion list, -1 where no face), ``confidence`` (float32 max probability, NaN where no face),
    ``face_found`` (bool), ``time_s``; and ``out_json`` with the same per frame plus a summary."""
    with h5py.File(features_h5, "r") as h5:
        probs = h5["probabilities"][...]
        found = h5["face_found"][...]
        times = h5["timestamps"][...]
        emotions = json.loads(h5.attrs["emotions"])
        model_sha = str(h5.attrs.get("model_sha256", ""))
    T = len(found)
    rec = np.zeros(
        T, dtype=[("time_s", "f8"), ("label", "i8"), ("confidence", "f4"), ("face_found", "?")]
    )
    rec["time_s"] = times
    rec["face_found"] = found
    rec["label"] = NO_FACE
    rec["confidence"] = np.nan
    if found.any():
        rec["label"][found] = np.nanargmax(probs[found], axis=1)
        rec["confidence"][found] = np.nanmax(probs[found], axis=1)
    np.save(out_npy, rec)
    counts = {e: int((rec["label"] == i).sum()) for i, e in enumerate(emotions)}
    summary = {
        "emotions": emotions,
        "model_sha256": model_sha,
        "n_frames": T,
        "n_faces": int(found.sum()),
        "counts": counts,
        "mean_confidence": float(np.nanmean(rec["confidence"])) if found.any() else None,
        "frames": [
            {
                "time_s": round(float(r["time_s"]), 4),
                "label": emotions[r["label"]] if r["label"] >= 0 else None,
                "confidence": None
                if np.isnan(r["confidence"])
                else round(float(r["confidence"]), 4),
                "face_found": bool(r["face_found"]),
            }
            for r in rec
        ],
    }
    Path(out_json).write_text(json.dumps(summary, indent=1))
    return {k: v for k, v in summary.items() if k != "frames"}
