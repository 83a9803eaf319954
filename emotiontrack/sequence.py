"""The sequence models (refine, the default, and lstm, bilstm, attention, autoencoder) over
per-frame CNN features, and per-session predictions.

Input per frame: the L2-normalised CNN feature vector (optionally with the CNN probabilities) and
a constant 1 "face present" channel; frames without a face and padding are all-zero vectors, which
a ``Masking`` layer skips, so the LSTM carries its state across look-aways instead of reading
garbage. Targets are the CNN pseudo labels (weighted 0 where there is no face or only padding).
Training windows come from the training participants' sessions and their augmented copies;
validation uses whole participants held out, never frames of a training participant.
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

    ``refine`` starts from the per-frame CNN and refines it: a second input
    ``cnn_log_probabilities`` (T, n_classes) and output softmax(log p_cnn + delta), where delta
    (output ``delta``, T x n_classes) comes from a bidirectional LSTM over the session whose last
    Dense layer starts at zero: untrained, the model is exactly the per-frame CNN. Its layers:
    Input, Masking, Bidirectional(LSTM), Dropout, TimeDistributed(Dense), Add, Activation.

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
    if kind == "refine":
        logp = keras.Input((None, n_classes), name="cnn_log_probabilities")
        x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="bilstm")(x)
        x = layers.Dropout(dropout)(x)
        delta = layers.TimeDistributed(
            layers.Dense(n_classes, kernel_initializer="zeros", bias_initializer="zeros"),
            name="delta",
        )(x)
        logits = layers.Add(name="refined_logits")([logp, delta])
        outputs["probabilities"] = layers.Activation("softmax", name="probabilities")(logits)
        outputs["delta"] = delta
        return keras.Model({"frames": inp, "cnn_log_probabilities": logp}, outputs, name=kind)
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
    delta_penalty: float = 1.0,
    seed: int = 0,
) -> dict:
    """Train a sequence model (``kind``, see :func:`build_sequence_model`) on windows of the
    training participants' sessions (and augmented copies), targets = pseudo labels (cleaned over
    ``target_window`` frames); validate on held-out participants' sessions; write the model and a
    per-epoch history CSV.

    ``refine`` is trained with class-balanced cross-entropy (:func:`class_weights`) plus
    ``delta_penalty`` x the mean squared correction delta over face frames, so it moves away from
    the per-frame CNN only where the targets pay for it."""
    import keras

    if not sessions:
        raise ValueError("no training sessions: the session sheet needs rows with split 'train'")
    refine = kind == "refine"
    n_classes = len(emotions)
    train_p, val_p = split_participants([s.participant for s in sessions], validation_participants)
    log.info("sequence model: train participants %s, validation participants %s", train_p, val_p)
    parts: dict[str, list] = {"train": [], "val": []}
    for s in sessions:
        for x, y, w in _session_arrays(s, use_probabilities, target_window, log_probs=refine):
            parts["val" if s.participant in val_p else "train"].append(
                windows(x, y, w, window, stride)
            )

    def stack(items):
        return tuple(np.concatenate([it[k] for it in items]) for k in range(3))

    n_inputs = parts["train"][0][0].shape[-1] - (n_classes if refine else 0)
    keras.utils.set_random_seed(seed)
    model = build_sequence_model(n_inputs, n_classes, kind=kind, units=units, bottleneck=bottleneck)
    heads = list(model.output.keys()) if isinstance(model.output, dict) else ["probabilities"]
    cw = None
    if refine:
        _, y_all, w_all = stack(parts["train"])
        cw = class_weights(y_all, w_all, n_classes)
        log.info("class weights %s", dict(zip(emotions, np.round(cw, 3).tolist(), strict=True)))

    def targets(items):
        """Inputs, per-head targets and per-head weights: the reconstruction head learns to
        reproduce the input on face frames, the delta head is pulled towards 0 on face frames;
        the refine model's class probabilities are weighted by class."""
        x, y, w = stack(items)
        if refine:
            x = {"frames": x[..., :n_inputs], "cnn_log_probabilities": x[..., n_inputs:]}
        ys = {
            "probabilities": y,
            "reconstruction": x,
            "delta": np.zeros((*y.shape, n_classes), np.float32),
        }
        ws = {h: w for h in heads}
        if cw is not None:
            ws["probabilities"] = (w * cw[y]).astype(np.float32)
        return x, {h: ys[h] for h in heads}, ws

    xtr, ytr, wtr = targets(parts["train"])
    losses = {
        "probabilities": "sparse_categorical_crossentropy",
        "reconstruction": "mse",
        "delta": "mse",
    }
    weights = {"probabilities": 1.0, "reconstruction": 0.5, "delta": delta_penalty}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={h: losses[h] for h in heads},
        loss_weights={h: weights[h] for h in heads},
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
    # "probabilities_accuracy" -> "accuracy"; the heads' own losses keep their names when the
    # total is also called "loss" (two heads)
    h = pd.DataFrame(hist.history).rename(
        columns=lambda c: (
            c
            if c.replace("probabilities_", "") in hist.history
            else c.replace("probabilities_", "")
        )
    )
    h.insert(0, "epoch", np.arange(1, len(h) + 1))
    h.to_csv(out_history, index=False)
    n_train = len(next(iter(xtr.values())) if isinstance(xtr, dict) else xtr)
    log.info("sequence model trained on %d windows", n_train)
    return {"train_participants": train_p, "validation_participants": val_p, "epochs": len(h)}


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
