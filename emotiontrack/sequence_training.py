"""The sequence models themselves, in Keras: their architectures (:func:`build_sequence_model`)
and their training (:func:`train_sequence_model`) on the windows, targets and weights that
:mod:`emotiontrack.sequence` makes. The only part of the sequence models that needs TensorFlow:
the trained models are exported to ONNX (:func:`emotiontrack.export.export_sequence`) and the
per-session jobs run the exports without importing this module.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .sequence import (
    SEQUENCE_MODELS,
    TrainingSession,
    _session_arrays,
    class_weights,
    split_participants,
    windows,
)
from .tfutil import history_table

log = logging.getLogger(__name__)


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
    h = history_table(hist.history)
    h.to_csv(out_history, index=False)
    n_train = len(next(iter(xtr.values())) if isinstance(xtr, dict) else xtr)
    log.info("sequence model trained on %d windows", n_train)
    return {"train_participants": train_p, "validation_participants": val_p, "epochs": len(h)}
