"""Training of the clip models (:mod:`emotiontrack.clips.models`) on a clip set's ``train``
split, with early stopping on its ``validation`` split; and of the valence/arousal regression
model on the same splits. The job then predicts the test split with the saved model (the test
clips are read only then), so that scoring them needs no TensorFlow.

Classes are balanced by weighting each training clip by n / (k * count of its class). The best
epoch on validation (lowest validation loss; without validation clips, training loss) after the
first ``patience`` epochs is kept.
Writes the model (``.keras``) and a per-epoch history CSV (``epoch``, ``loss``, ``accuracy``,
``val_loss``, ``val_accuracy``, ...).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import UserInputError
from ..cnn import class_weights
from ..formats import ClipSet, read_clips
from ..tfutil import history_table
from .evaluate import predict_test_clips
from .models import (
    build_clip_model,
    check_model,
    clip_mean_va,
    model_inputs,
    reconstruction_targets,
)

log = logging.getLogger(__name__)

# weight of the cnn-ae-lstm's reconstruction loss beside the classification loss
RECONSTRUCTION_WEIGHT = 0.5


def _arrays(cs: ClipSet, name: str, input_size: int, regression: bool):
    """Inputs, per-output targets and per-output sample weights of the clips of ``cs``."""
    x = model_inputs(cs, name, input_size)
    if regression:
        y = {"valence_arousal": clip_mean_va(cs)}
        return x, y, {"valence_arousal": np.ones(len(cs), np.float32)}
    y = {"probabilities": cs.labels.astype(np.int64)}
    w = {"probabilities": np.ones(len(cs), np.float32)}
    if name == "cnn-ae-lstm":
        y["reconstruction"] = reconstruction_targets(x["frames"])
        w["reconstruction"] = x["present"]  # per frame: padding is not reconstructed
    return x, y, w


def _subset(parts, keep: np.ndarray):
    return tuple({k: v[keep] for k, v in d.items()} for d in parts)


def train_clip_model(
    clips_h5: str | Path,
    name: str,
    out_model: str | Path,
    out_history: str | Path,
    out_predictions: str | Path | None = None,
    *,
    input_size: int = 48,
    units: int = 64,
    epochs: int = 40,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    patience: int = 8,
    seed: int = 0,
    regression: bool = False,
) -> dict:
    """Train clip model ``name`` on the train split of ``clips_h5`` (early stopping on the
    validation split) and write ``out_model`` and ``out_history``; then, with
    ``out_predictions``, the saved model's predictions of the test split
    (:func:`emotiontrack.clips.evaluate.predict_test_clips`). With ``regression`` the model
    predicts the per-clip mean (valence, arousal) (tanh outputs, MSE loss; clips without them
    are left out) instead of the class. Returns a summary dict (clips per split, epochs run,
    best validation loss, class weights)."""
    import keras

    cs = read_clips(clips_h5)
    check_model(name, cs, str(clips_h5))
    train, val = cs.subset("train"), cs.subset("validation")
    if not len(train):
        raise UserInputError(f"{clips_h5}: no clips in the train split")
    n_out = 2 if regression else len(cs.classes)
    parts = {
        s: _arrays(c, name, input_size, regression)
        for s, c in (("train", train), ("validation", val))
    }
    summary: dict = {"model": name, "classes": list(cs.classes)}
    if regression:
        for s in parts:
            ok = np.isfinite(parts[s][1]["valence_arousal"]).all(axis=1)
            parts[s] = _subset(parts[s], ok)
        if not len(parts["train"][1]["valence_arousal"]):
            raise UserInputError(f"{clips_h5}: no training clip has valence/arousal values")
    else:
        y = parts["train"][1]["probabilities"]
        cw = class_weights(y, n_out)
        parts["train"][2]["probabilities"] = np.array([cw[c] for c in y], np.float32)
        summary["class_weights"] = {cs.classes[i]: round(w, 4) for i, w in cw.items()}
    n_val = len(parts["validation"][0]["present"])
    summary.update(
        train_clips=int(len(parts["train"][0]["present"])),
        validation_clips=int(n_val),
    )
    log.info("%s: %s", name, summary)

    keras.utils.set_random_seed(seed)
    landmark_values = parts["train"][0]["frames"].shape[-1]
    model = build_clip_model(
        name,
        cs.length,
        n_out,
        input_size=input_size,
        n_landmark_values=landmark_values,
        units=units,
        regression=regression,
    )
    heads = list(model.output.keys())
    losses = {
        "probabilities": "sparse_categorical_crossentropy",
        "reconstruction": "mse",
        "valence_arousal": "mse",
    }
    weights = {
        "probabilities": 1.0,
        "reconstruction": RECONSTRUCTION_WEIGHT,
        "valence_arousal": 1.0,
    }
    metrics = {"probabilities": ["accuracy"], "valence_arousal": ["mae"]}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={h: losses[h] for h in heads},
        loss_weights={h: weights[h] for h in heads},
        weighted_metrics={h: metrics[h] for h in heads if h in metrics},
    )
    monitor = "val_loss" if n_val else "loss"
    x, y, w = parts["train"]
    hist = model.fit(
        x,
        y,
        sample_weight=w,
        validation_data=parts["validation"] if n_val else None,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=[
            # not before the first `patience` epochs: on a small validation split the loss can
            # rise at first while batch norm's running statistics settle
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=patience,
                restore_best_weights=True,
                start_from_epoch=min(patience, epochs // 2),
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
    summary.update(
        epochs=int(len(h)),
        best_epoch=int(np.argmin(h[monitor].to_numpy())) + 1,
        best_loss=float(h[monitor].min()),
        monitor=monitor,
    )
    log.info("%s trained: %s", name, summary)
    if out_predictions is not None:
        predict_test_clips(model, cs, out_predictions, input_size)
    return summary
