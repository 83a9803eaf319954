"""The sequence model: an LSTM over per-frame CNN features, and per-session predictions.

Input per frame: the L2-normalised CNN feature vector (optionally with the CNN probabilities) and
a constant 1 "face present" channel; frames without a face and padding are all-zero vectors, which
a ``Masking`` layer skips, so the LSTM carries its state across look-aways instead of reading
garbage. Targets are the CNN pseudo labels (weighted 0 where there is no face or only padding).
Training windows come from the training participants' sessions and their augmented copies;
validation uses whole participants held out, never frames of a training participant.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

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


def _session_arrays(s: TrainingSession, use_probabilities: bool, target_window: int = 1):
    """(inputs, targets, weights) for the session and each augmented copy. Targets are the CNN
    pseudo labels; with ``target_window`` > 1 frames they are first cleaned by a centred moving
    median of the CNN probabilities over that many face frames (isolated per-frame errors are
    not taught as truth). Augmented copies share the clean session's targets."""
    rec = np.load(s.pseudolabels)
    y = np.maximum(rec["label"], 0)
    w = rec["face_found"].astype(np.float32)
    if target_window > 1 and rec["face_found"].any():
        from .baselines import moving_median

        with h5py.File(s.features, "r") as h5:
            smoothed = moving_median(h5["probabilities"][...].astype(np.float64), target_window)
        face = rec["face_found"]
        y[face] = smoothed[face].argmax(axis=1)
    seqs = []
    for path in filter(None, (s.features, s.augmented_features)):
        with h5py.File(path, "r") as h5:
            feats = h5["features"][...]
            found = h5["face_found"][...]
            probs = h5["probabilities"][...] if use_probabilities else None
        x = frame_inputs(feats, found, probs)
        seqs.extend(x if x.ndim == 3 else [x])  # augmented files hold (K, T, F)
    return [(x, y, w) for x in seqs]


SEQUENCE_MODELS = ("lstm", "bilstm", "attention", "autoencoder")
LOSSES = {"probabilities": "sparse_categorical_crossentropy", "reconstruction": "mse"}
LOSS_WEIGHTS = {"probabilities": 1.0, "reconstruction": 0.5}


def build_sequence_model(
    n_inputs: int,
    n_classes: int,
    *,
    kind: str = "lstm",
    units: int = 64,
    dropout: float = 0.3,
    bottleneck: int = 32,
):
    """A per-frame classifier over a masked sequence of frame inputs (T, n_inputs).

    ``kind``: ``lstm`` (causal: each frame sees only the past), ``bilstm`` (past and future),
    ``attention`` (an LSTM, then multi-head self-attention over the whole session with a residual
    connection: any frame can draw on any other), ``autoencoder`` (a per-frame encoder squeezes
    the features to ``bottleneck`` units, trained also to reconstruct its input, before the LSTM).
    Outputs a dict: ``probabilities`` (T, n_classes) softmax, and for the autoencoder also
    ``reconstruction`` (T, n_inputs). Masked frames (all-zero inputs) are skipped throughout."""
    import keras
    from keras import layers

    if kind not in SEQUENCE_MODELS:
        raise ValueError(f"unknown sequence model {kind!r}; choose one of {SEQUENCE_MODELS}")
    inp = keras.Input((None, n_inputs), name="frames")
    x = layers.Masking(mask_value=0.0)(inp)
    outputs = {}
    if kind == "autoencoder":
        code = layers.TimeDistributed(layers.Dense(bottleneck, activation="relu"), name="encoder")(
            x
        )
        outputs["reconstruction"] = layers.TimeDistributed(
            layers.Dense(n_inputs), name="reconstruction"
        )(code)
        x = code
    if kind == "bilstm":
        x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="bilstm")(x)
    else:
        x = layers.LSTM(units, return_sequences=True, name="lstm")(x)
    if kind == "attention":
        att = layers.MultiHeadAttention(num_heads=2, key_dim=max(8, units // 2), name="attention")(
            x, x
        )
        x = layers.LayerNormalization()(layers.Add()([x, att]))
    x = layers.Dropout(dropout)(x)
    outputs["probabilities"] = layers.TimeDistributed(
        layers.Dense(n_classes, activation="softmax"), name="probabilities"
    )(x)
    return keras.Model(inp, outputs, name=kind)


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


def train_sequence_model(
    sessions: list[TrainingSession],
    emotions: list[str],
    out_model: str | Path,
    out_history: str | Path,
    *,
    kind: str = "lstm",
    units: int = 64,
    bottleneck: int = 32,
    window: int = 50,
    stride: int = 25,
    epochs: int = 30,
    batch_size: int = 16,
    learning_rate: float = 2e-3,
    patience: int = 6,
    validation_participants: list[str] | None = None,
    use_probabilities: bool = False,
    target_window: int = 1,
) -> dict:
    """Train a sequence model (``kind``, see :func:`build_sequence_model`) on windows of the
    training participants' sessions (and augmented copies), targets = pseudo labels; validate on
    held-out participants' sessions; write the model and a per-epoch history CSV."""
    import keras

    if not sessions:
        raise ValueError("no training sessions: the session sheet needs rows with split 'train'")
    train_p, val_p = split_participants([s.participant for s in sessions], validation_participants)
    log.info("sequence model: train participants %s, validation participants %s", train_p, val_p)
    parts: dict[str, list] = {"train": [], "val": []}
    for s in sessions:
        for x, y, w in _session_arrays(s, use_probabilities, target_window):
            parts["val" if s.participant in val_p else "train"].append(
                windows(x, y, w, window, stride)
            )

    def stack(items):
        return tuple(np.concatenate([it[k] for it in items]) for k in range(3))

    model = build_sequence_model(
        parts["train"][0][0].shape[-1], len(emotions), kind=kind, units=units, bottleneck=bottleneck
    )
    heads = list(model.output.keys()) if isinstance(model.output, dict) else ["probabilities"]

    def targets(items):
        """Inputs, per-head targets and per-head weights: the reconstruction head learns to
        reproduce the input on face frames."""
        x, y, w = stack(items)
        ys = {"probabilities": y, "reconstruction": x}
        return x, {h: ys[h] for h in heads}, {h: w for h in heads}

    xtr, ytr, wtr = targets(parts["train"])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={
            h: {"probabilities": "sparse_categorical_crossentropy", "reconstruction": "mse"}[h]
            for h in heads
        },
        loss_weights={h: {"probabilities": 1.0, "reconstruction": 0.5}[h] for h in heads},
        weighted_metrics={"probabilities": ["accuracy"]},
    )
    val_data = targets(parts["val"]) if parts["val"] else None
    monitor = "val_loss" if val_data else "loss"
    hist = model.fit(
        xtr,
        ytr,
        sample_weight=wtr,
        validation_data=val_data,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=patience, restore_best_weights=True
            ),
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, factor=0.5, patience=max(1, patience // 2)
            ),
        ],
        verbose=2,
    )
    model.save(out_model)
    h = pd.DataFrame(hist.history).rename(columns=lambda c: c.replace("probabilities_", ""))
    h.insert(0, "epoch", np.arange(1, len(h) + 1))
    h.to_csv(out_history, index=False)
    log.info(
        "sequence model trained on %d windows (%d validation)",
        len(xtr),
        0 if not val_data else len(val_data[0]),
    )
    return {"train_participants": train_p, "validation_participants": val_p, "epochs": len(h)}


def predict_session(
    features_h5: str | Path,
    model_path: str | Path,
    out_csv: str | Path,
    emotions: list[str],
    *,
    use_probabilities: bool = False,
    threads: int = 1,
) -> pd.DataFrame:
    """Write the session's prediction timeline CSV: ``time_s, frame_index, face_found``, one
    probability column per emotion (the sequence model's; carried over frames without a face, where
    the masked LSTM keeps its state; empty before the first face), ``label`` (argmax), and the
    per-frame CNN's ``cnn_label``/``cnn_confidence`` (empty without a face). ``model_path``: the
    sequence model's ONNX export (:mod:`emotiontrack.export`), run by onnxruntime on ``threads``
    CPU threads (no TensorFlow)."""
    from .inference import OnnxSequenceModel

    with h5py.File(features_h5, "r") as h5:
        feats = h5["features"][...]
        found = h5["face_found"][...]
        cnn = h5["probabilities"][...]
        times = h5["timestamps"][...]
        frame_index = h5["frame_index"][...]
        stored = json.loads(h5.attrs["emotions"])
    if stored != list(emotions):
        raise ValueError(
            f"{features_h5}: features were made for emotions {stored}, config has {emotions}"
        )
    T, C = len(found), len(emotions)
    probs = np.full((T, C), np.nan, np.float32)
    if found.any():
        model = OnnxSequenceModel(model_path, threads)
        out = model.predict(frame_inputs(feats, found, cnn if use_probabilities else None))
        # Masked steps do not update the LSTM state: their prediction is the last face frame's.
        last = np.maximum.accumulate(np.where(found, np.arange(T), -1))
        ok = last >= 0
        probs[ok] = out[last[ok]]
    return write_predictions(out_csv, times, frame_index, found, probs, cnn, emotions)


def write_predictions(
    out_csv: str | Path,
    times: np.ndarray,
    frame_index: np.ndarray,
    found: np.ndarray,
    probs: np.ndarray,
    cnn: np.ndarray,
    emotions: list[str],
) -> pd.DataFrame:
    """The one writer of the predictions-CSV format (see :func:`predict_session`). ``times`` (T,)
    seconds, ``frame_index`` (T,), ``found`` (T,) bool, ``probs`` (T, C) the timeline's
    probabilities (NaN: no prediction), ``cnn`` (T, C) the per-frame CNN's (NaN without a face).
    Returns the table written."""
    names = np.array(emotions, dtype=object)
    found = np.asarray(found, bool)
    df = pd.DataFrame(
        {"time_s": np.round(times, 4), "frame_index": frame_index, "face_found": found.astype(int)}
    )
    for i, e in enumerate(emotions):
        df[e] = probs[:, i]
    has = ~np.isnan(probs).any(axis=1)
    df["label"] = np.where(has, names[np.nan_to_num(probs).argmax(axis=1)], "")
    df["cnn_label"] = np.where(found, names[np.nan_to_num(cnn).argmax(axis=1)], "")
    df["cnn_confidence"] = np.where(found, np.nanmax(np.nan_to_num(cnn, nan=0.0), axis=1), np.nan)
    df.to_csv(out_csv, index=False, float_format="%.5f")
    return df
