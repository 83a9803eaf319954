"""The sequence models (refine, the default, and lstm, bilstm, attention, autoencoder) over
per-frame CNN features: their inputs and targets, and per-session predictions from their ONNX
exports.

Input per frame: the L2-normalised CNN feature vector (optionally with the CNN probabilities) and
a constant 1 "face present" channel; frames without a face and padding are all-zero vectors, which
a ``Masking`` layer skips, so the LSTM carries its state across look-aways instead of reading
garbage. Targets are the CNN pseudo labels (weighted 0 where there is no face or only padding).
Training windows come from the training participants' sessions and their augmented copies;
validation uses whole participants held out, never frames of a training participant.

The Keras models themselves (architectures, training) are in
:mod:`emotiontrack.sequence_training`, the only part that needs TensorFlow; the predict jobs run
the models' ONNX exports (:mod:`emotiontrack.inference`) and import only this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .formats import (
    Features,
    Predictions,
    read_feature_copies,
    read_features,
    read_pseudolabels,
    write_predictions,
)

log = logging.getLogger(__name__)


def frame_inputs(
    features: np.ndarray, found: np.ndarray, probabilities: np.ndarray | None = None
) -> np.ndarray:
    """(..., T, D) features, (T,) face flags[, (..., T, C) probabilities] -> (..., T, D[+C]+1)
    float32 model inputs; rows without a face are all zero (masked)."""
    f = features.astype(np.float32)
    f = f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-6)
    parts = [f]
    if probabilities is not None:
        parts.append(np.nan_to_num(probabilities.astype(np.float32)))
    parts.append(np.ones((*f.shape[:-1], 1), np.float32))
    x = np.concatenate(parts, axis=-1)
    x[..., ~found, :] = 0.0
    return x


def windows(x: np.ndarray, y: np.ndarray, w: np.ndarray, length: int, stride: int):
    """Cut a (T, F) sequence with (T,) targets/weights into windows of ``length`` frames every
    ``stride`` frames; the last window is zero-padded (weight 0)."""
    T = len(x)
    starts = list(range(0, max(T - length, 0) + 1, stride))
    if T > length and starts[-1] + length < T:
        starts.append(T - length)
    xs = np.zeros((len(starts), length, x.shape[-1]), np.float32)
    ys = np.zeros((len(starts), length), np.int64)
    ws = np.zeros((len(starts), length), np.float32)
    for i, s in enumerate(starts):
        n = min(length, T - s)
        xs[i, :n], ys[i, :n], ws[i, :n] = x[s : s + n], y[s : s + n], w[s : s + n]
    return xs, ys, ws


@dataclass
class TrainingSession:
    """One training session: its participant, features file, optional augmented features file and
    pseudo-label file."""

    participant: str
    features: str
    pseudolabels: str
    augmented_features: str | None = None


def cnn_log_probabilities(probabilities: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(..., T, C) CNN probabilities, (T,) face flags -> float32 log-probabilities (floored at
    1e-7), 0 where there is no face: the refine model's per-frame starting point."""
    logp = np.log(np.maximum(np.nan_to_num(probabilities.astype(np.float32)), LOG_FLOOR))
    logp[..., ~found, :] = 0.0
    return logp


def _session_arrays(
    s: TrainingSession, use_probabilities: bool, target_window: int = 1, log_probs: bool = False
):
    """(inputs, targets, weights) for the session and each augmented copy. Targets are the CNN
    pseudo labels, cleaned in time by :func:`emotiontrack.pseudolabels.clean_labels` when
    ``target_window`` > 1 frames (isolated per-frame errors are not taught as truth). Augmented
    copies share the clean session's targets. With ``log_probs`` the CNN's log-probabilities
    (:func:`cnn_log_probabilities`) are appended as the last C input columns."""
    from .pseudolabels import clean_labels

    pl = read_pseudolabels(s.pseudolabels)
    w = pl.face_found.astype(np.float32)
    clean = read_features(s.features)
    y = np.maximum(clean_labels(clean.probabilities, pl.face_found, target_window), 0)
    seqs = []
    copies = read_feature_copies(s.augmented_features) if s.augmented_features else []
    for f in [clean, *copies]:
        x = frame_inputs(f.features, f.face_found, f.probabilities if use_probabilities else None)
        if log_probs:
            x = np.concatenate([x, cnn_log_probabilities(f.probabilities, f.face_found)], axis=-1)
        seqs.append(x)
    return [(x, y, w) for x in seqs]


def class_weights(labels: np.ndarray, weights: np.ndarray, n_classes: int, cap: float = 10.0):
    """Balanced per-class weights (C,) from target labels and their frame weights: a class's
    weight is inversely proportional to its weighted frame count, the mean over the frames is 1,
    and no class gets more than ``cap`` times the mean (a class seen in three frames must not
    dominate); classes never seen get weight 0."""
    counts = np.bincount(labels.ravel(), weights=weights.ravel(), minlength=n_classes)
    present = counts > 0
    cw = np.zeros(n_classes)
    if not present.any():
        return cw
    cw[present] = counts[present].sum() / (present.sum() * counts[present])
    cw = np.minimum(cw, cap)
    return cw / (cw[labels.ravel()] * weights.ravel()).sum() * weights.sum()


SEQUENCE_MODELS = ("refine", "lstm", "bilstm", "attention", "autoencoder")
LOG_FLOOR = 1e-7


def split_participants(
    participants: list[str], validation: list[str] | None
) -> tuple[list[str], list[str]]:
    """Training and validation participants: the configured ones, else the last (sorted) one when
    there are at least two, else none (then training runs without validation)."""
    uniq = sorted(set(participants))
    val = [p for p in (validation or []) if p in uniq]
    if not validation and len(uniq) >= 2:
        val = uniq[-1:]
    return [p for p in uniq if p not in val], val


def sequence_probabilities(
    data: Features, model_path: str | Path, *, use_probabilities: bool = False, threads: int = 1
) -> np.ndarray:
    """(T, C) probabilities of the sequence model over one session's features; rows of frames
    without a face are the model's raw output there (use :func:`carry_over` before writing them).
    ``model_path``: the model's ONNX export (:mod:`emotiontrack.export`), run by onnxruntime on
    ``threads`` CPU threads: no TensorFlow."""
    from .inference import OnnxSequenceModel

    found, cnn = data.face_found, data.probabilities
    model = OnnxSequenceModel(model_path, threads)
    x = frame_inputs(data.features, found, cnn if use_probabilities else None)
    logp = cnn_log_probabilities(cnn, found) if model.refines else None
    return model.predict(x, logp)


def carry_over(probs: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Face frames keep their row; a frame without a face gets the last face frame's row (masked
    steps do not update a sequence model's state); frames before the first face get NaN."""
    out = np.full(probs.shape, np.nan, np.float32)
    last = np.maximum.accumulate(np.where(found, np.arange(len(found)), -1))
    ok = last >= 0
    out[ok] = probs[last[ok]]
    return out


def predict_session(
    features_h5: str | Path,
    model_path: str | Path,
    out_csv: str | Path,
    emotions: list[str],
    *,
    use_probabilities: bool = False,
    threads: int = 1,
) -> pd.DataFrame:
    """Write the session's prediction timeline CSV (:func:`emotiontrack.formats.write_predictions`)
    from the sequence model at ``model_path`` (its ONNX export, :func:`sequence_probabilities`):
    its probabilities, carried over frames without a face (the masked LSTM keeps its state), empty
    before the first face."""
    data = read_features(features_h5, emotions)
    T, C = len(data.face_found), len(emotions)
    probs = np.full((T, C), np.nan, np.float32)
    if data.face_found.any():
        raw = sequence_probabilities(
            data, model_path, use_probabilities=use_probabilities, threads=threads
        )
        probs = carry_over(raw, data.face_found)
    return write_predictions(out_csv, Predictions.from_probabilities(data, probs))
