"""Pseudo labels: the CNN's per-frame decision, used as the sequence model's training targets.

They are NOT ground truth: nothing in the evaluation scores a model against them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .formats import NO_FACE, PseudoLabels, read_features, write_pseudolabels


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
    """Write a session's pseudo labels (:func:`emotiontrack.formats.write_pseudolabels`): per
    frame the CNN's argmax (-1 where no face) and its probability. Returns the summary."""
    f = read_features(features_h5)
    found = f.face_found
    label = np.full(len(found), NO_FACE, np.int64)
    confidence = np.full(len(found), np.nan, np.float32)
    if found.any():
        label[found] = np.nanargmax(f.probabilities[found], axis=1)
        confidence[found] = np.nanmax(f.probabilities[found], axis=1)
    pl = PseudoLabels(
        time_s=f.timestamps,
        label=label,
        confidence=confidence,
        face_found=found,
        emotions=f.emotions,
        model_sha256=str(f.attrs.get("model_sha256", "")),
    )
    return write_pseudolabels(out_npy, out_json, pl)
