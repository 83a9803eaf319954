"""Temporal baselines over the per-frame CNN probabilities, to judge what a sequence model adds.

All work on a session's (T, C) CNN probabilities with NaN rows where no face was found, and
return (T, C) probabilities (NaN where the method makes no prediction):

- ``moving_average``/``moving_median``: a centred window over the face frames (frames without a
  face are skipped, not counted as zeros);
- ``viterbi``: a hidden Markov model whose states are the emotions, transitions and start
  probabilities estimated from training sessions' label sequences, and the CNN's probabilities
  (divided by the CNN's class prior) as emission likelihoods; frames without a face carry no
  evidence, so the decoder bridges them with the transition model. Returns one-hot rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def _rolling(probs: np.ndarray, window: int, how: str) -> np.ndarray:
    face = ~np.isnan(probs).any(axis=1)
    out = np.full_like(probs, np.nan, dtype=np.float64)
    if not face.any():
        return out
    df = pd.DataFrame(probs[face])
    roll = df.rolling(max(1, int(window)), center=True, min_periods=1)
    out[face] = (roll.mean() if how == "mean" else roll.median()).to_numpy()
    return out / out.sum(axis=1, keepdims=True)


def moving_average(probs: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` face frames."""
    return _rolling(probs, window, "mean")


def moving_median(probs: np.ndarray, window: int) -> np.ndarray:
    """Centred moving median over ``window`` face frames (renormalised to sum to 1)."""
    return _rolling(probs, window, "median")


def estimate_transitions(
    sequences: Iterable[np.ndarray], n_classes: int, pseudocount: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Start probabilities (C,) and transition matrix (C, C) from label sequences (ints, -1 =
    unknown, skipped) sampled at the study's frame rate, with add-``pseudocount`` smoothing."""
    start = np.full(n_classes, pseudocount)
    trans = np.full((n_classes, n_classes), pseudocount)
    for seq in sequences:
        seq = np.asarray(seq)
        seq = seq[seq >= 0]
        if len(seq) == 0:
            continue
        start[seq[0]] += 1
        np.add.at(trans, (seq[:-1], seq[1:]), 1)
        np.add.at(start, seq, 1)  # class frequencies: a better start prior than first frames only
    return start / start.sum(), trans / trans.sum(axis=1, keepdims=True)


def hmm_viterbi(probs: np.ndarray, hmm: dict) -> np.ndarray:
    """:func:`viterbi` with an HMM given as its file holds it (``start``, ``transitions`` lists:
    ``emotiontrack.comparison.hmm_from_training``), as scored and as applied to predictions."""
    start = np.asarray(hmm["start"], dtype=np.float64)
    return viterbi(probs, start, np.asarray(hmm["transitions"], dtype=np.float64))


def viterbi(
    probs: np.ndarray, start: np.ndarray, trans: np.ndarray, prior: np.ndarray | None = None
) -> np.ndarray:
    """Most likely emotion path given per-frame CNN posteriors ``probs`` (T, C; NaN rows = no
    observation). ``prior`` (C,) converts posteriors to scaled likelihoods p(x|s) ∝ p(s|x)/p(s).
    Returns (T, C) one-hot rows (all frames get a state; none if no frame has a face)."""
    T, C = probs.shape
    out = np.full((T, C), np.nan)
    if T == 0 or np.isnan(probs).all():
        return out
    lik = np.where(np.isnan(probs), 1.0, probs)
    if prior is not None:
        lik = lik / np.maximum(prior, 1e-6)
    log_lik = np.log(np.maximum(lik, 1e-12))
    log_t = np.log(trans)
    score = np.log(start) + log_lik[0]
    back = np.zeros((T, C), np.int64)
    for t in range(1, T):
        cand = score[:, None] + log_t
        back[t] = cand.argmax(axis=0)
        score = cand.max(axis=0) + log_lik[t]
    path = np.empty(T, np.int64)
    path[-1] = score.argmax()
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    out[:] = 0.0
    out[np.arange(T), path] = 1.0
    return out
