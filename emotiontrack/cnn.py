"""The per-frame FER CNN: architecture, training on a FER set, evaluation on its test split.

Models take (H, W, 1) float32 gray images in 0-255 (rescaling is the model's first layer), end in
a softmax over the study's emotions, and name their penultimate layer ``features`` so feature
extraction finds it in any architecture.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FEATURES_LAYER = "features"


ARCHITECTURES: tuple[str, ...] = ("vgg-small", "cnn-rnn", "deep-elu")


def build_cnn(
    input_size: int, n_classes: int, *, name: str = "vgg-small", width: int = 16, blocks: int = 3
):
    """Build an uncompiled Keras model by architecture name (one of :data:`ARCHITECTURES`).

    Every architecture takes (input_size, input_size, 1) float32 gray crops in 0-255 (input layer
    ``face``), standardises each image itself, names its penultimate layer ``features`` and ends in
    an ``n_classes`` softmax (``probabilities``) in the study's emotion order.

    - ``vgg-small`` (default, the measured one): VGG-style conv blocks + 128-d dense features.
    - ``cnn-rnn``: the same conv blocks, then an LSTM reading the feature map row by row.
    - ``deep-elu``: the deep 8-conv ELU network (64-512 filters, global max pooling), ~4.7M
      parameters; ``width`` and ``blocks`` do not apply to it.

    ``width``/``blocks``: first-block filters and number of conv blocks (vgg-small, cnn-rnn).
    Raises ValueError for an unknown name.
    """
    if name == "vgg-small":
        return _vgg_small(input_size, n_classes, width=width, blocks=blocks)
    if name == "cnn-rnn":
        return _cnn_rnn(input_size, n_classes, width=width, blocks=blocks)
    if name == "deep-elu":
        return _deep_elu(input_size, n_classes)
    raise ValueError(f"unknown CNN architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")


def _standardised_input(input_size: int):
    """The shared model stem: 0-255 input ``face`` -> [0, 1] -> per-image standardisation."""
    import keras
    from keras import layers

    inp = keras.Input((input_size, input_size, 1), name="face")
    x = layers.Rescaling(1.0 / 255.0)(inp)
    # Per-image standardisation (zero mean, unit variance over the crop): removes the lighting
    # level and contrast of the recording, which otherwise dominate what the first layers see.
    x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, name="standardise")(x)
    return inp, x


def _vgg_blocks(x, width: int, blocks: int):
    """``blocks`` VGG conv blocks (width, 2x, 4x filters; two 3x3 convs each with batch norm and
    ReLU, then 2x2 max pooling and dropout): halves the map ``blocks`` times."""
    from keras import layers

    for i in range(blocks):
        f = width * 2 ** min(i, 2)
        for j in range(2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i}_{j}")(x)
            x = layers.BatchNormalization(momentum=0.9)(x)  # few steps per epoch on CPU
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25)(x)
    return x


def _vgg_small(input_size: int, n_classes: int, *, width: int = 16, blocks: int = 3):
    """A compact VGG-style CNN for gray FER crops: per-image standardisation, ``blocks`` conv
    blocks (width, 2x, 4x filters; two 3x3 convs each with batch norm, max pool, dropout), a
    128-unit dense ``features`` layer, softmax. 0.37M parameters at 48x48 with the defaults:
    an epoch over a few thousand faces takes seconds on two CPU cores."""
    import keras
    from keras import layers

    inp, x = _standardised_input(input_size)
    x = _vgg_blocks(x, width, blocks)
    x = layers.Flatten()(x)  # keeps where things are (mouth vs brows): pooling would lose it
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # keeps the dense units from dying early
    x = layers.Activation("relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.4)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name="vgg-small")


def _cnn_rnn(
    input_size: int, n_classes: int, *, width: int = 16, blocks: int = 3, units: int = 128
):
    """CNN + recurrent layer over spatial rows: the vgg-small conv blocks turn the crop into an
    (h, w, c) map (6x6x64 at 48 px with the defaults); each of its h rows, top to bottom, is one
    step of w*c values for an LSTM of ``units`` units, whose last state feeds a 128-unit dense
    ``features`` layer and the softmax. The LSTM sees the face as a brow-to-chin sequence.
    0.35M parameters at 48x48; about as fast per epoch as vgg-small on CPU (~10 s for 2800
    faces on two shared cores)."""
    import keras
    from keras import layers

    inp, x = _standardised_input(input_size)
    x = _vgg_blocks(x, width, blocks)
    h, w, c = (int(d) for d in x.shape[1:])
    x = layers.Reshape((h, w * c), name="rows")(x)
    x = layers.LSTM(units, name="row_lstm")(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.4)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name="cnn-rnn")


def _deep_elu(input_size: int, n_classes: int, *, dropout: float = 0.4):
    """The deep 8-conv ELU network: four pairs of 3x3 convs (64-64, 128-128, 256-256, 512-512
    filters; he-normal init, batch norm, ELU), max pooling and ``dropout`` after each pair,
    global max pooling, a 128-unit dense ELU ``features`` layer, dropout, softmax. ~4.7M
    parameters at any input size (the convs dominate); ~85 s per epoch for 2800 48x48 faces on
    two shared CPU cores, 8-9x vgg-small."""
    import keras
    from keras import layers

    inp, x = _standardised_input(input_size)
    for i, f in enumerate((64, 128, 256, 512)):
        for j in range(2):
            x = layers.Conv2D(
                f,
                3,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=f"conv{i}_{j}",
            )(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("elu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(dropout)(x)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dense(128, use_bias=False, kernel_initializer="he_normal")(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("elu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.45)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name="deep-elu")


def class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """Balanced class weights n / (k * count_c): rare classes (disgust) weigh as much in total."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = counts > 0
    w = np.ones(n_classes)
    w[present] = counts[present].sum() / (present.sum() * counts[present])
    return {i: float(v) for i, v in enumerate(w)}


def _dataset(X: np.ndarray, y: np.ndarray, batch: int, *, shuffle: bool, augment, seed: int):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((X[..., None].astype("float32"), y))
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a, training=True), b))
    # Nothing here is autotuned (fixed prefetch, sequential map), so autotuning is off: its
    # background thread notices that an epoch's iterator is gone only after a sleep that grows to
    # seconds, and Keras waits for it at the end of every epoch (the demo CNN on one thread: ~3 s
    # idle per ~10 s epoch, no CPU used; the same trained weights without it)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def train_cnn(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    emotions: list[str],
    out_model: str | Path,
    out_history: str | Path,
    *,
    architecture: str = "vgg-small",
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    patience: int = 5,
    seed: int = 0,
    verbose: int = 2,
) -> dict:
    """Train on ``data['train']``, validate on ``data['val']`` (early stopping on validation loss,
    best weights restored, learning rate halved on plateaus), with balanced class weights and
    on-the-fly augmentation (flip, small rotation/translation/zoom, contrast). Writes the ``.keras``
    model and a CSV of per-epoch history. Returns the final validation metrics."""
    import keras
    from keras import layers

    Xtr, ytr = data["train"]
    Xva, yva = data["val"]
    size = Xtr.shape[1]
    n_classes = len(emotions)
    model = build_cnn(size, n_classes, name=architecture)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    augment = keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.02, seed=seed + 1),  # fraction of a turn: +-7 degrees
            layers.RandomTranslation(0.04, 0.04, seed=seed + 2),
            layers.RandomZoom(0.05, seed=seed + 3),
            layers.RandomContrast(0.2, seed=seed + 4),
        ],
        name="augment",
    )
    log.info(
        "training %s on %d images (%d val), %d classes", architecture, len(ytr), len(yva), n_classes
    )
    hist = model.fit(
        _dataset(Xtr, ytr, batch_size, shuffle=True, augment=augment, seed=seed),
        validation_data=_dataset(Xva, yva, 256, shuffle=False, augment=None, seed=seed),
        epochs=epochs,
        class_weight=class_weights(ytr, n_classes),
        callbacks=[
            keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=max(1, patience // 2)),
        ],
        verbose=verbose,
    )
    Path(out_model).parent.mkdir(parents=True, exist_ok=True)
    model.save(out_model)
    import pandas as pd

    h = pd.DataFrame(hist.history)
    h.insert(0, "epoch", np.arange(1, len(h) + 1))
    h.to_csv(out_history, index=False)
    best = int(h["val_loss"].idxmin())
    return {k: float(v) for k, v in h.iloc[best].items()}


def predict_proba(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, H, W) uint8 -> (N, C) probabilities, batched. Crops of another size than the model's
    input (a pretrained 64 px model on a 48 px FER set) are resized first."""
    from .features import resize_faces  # features imports this module

    size = int(model.input_shape[1])
    if len(X) and X.shape[1:] != (size, size):
        X = resize_faces(np.asarray(X, np.uint8), size)
    return batched_outputs(model, X, batch_size)[1]


def plot_sample_predictions(
    model,
    X: np.ndarray,
    y: np.ndarray,
    emotions: list[str],
    out_png: str | Path,
    n: int = 24,
    seed: int = 0,
) -> np.ndarray:
    """Draw ``n`` faces picked at random (``seed``) from X (N, H, W) uint8 with their true labels
    y (N,) (indices into ``emotions``), the model's predicted label and its probability; titles
    are green where the prediction is right, red where wrong. Writes a PNG grid (6 per row) and
    returns the indices drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(X), size=min(n, len(X)), replace=False))
    cols = 6
    rows = max(1, -(-len(idx) // cols))
    fig = Figure(figsize=(cols * 1.9, rows * 2.25))
    FigureCanvasAgg(fig)
    if len(idx):
        probs = predict_proba(model, X[idx])
        pred, conf = probs.argmax(axis=1), probs.max(axis=1)
        right = pred == y[idx]
        for k, i in enumerate(idx):
            ax = fig.add_subplot(rows, cols, k + 1)
            ax.imshow(X[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(
                f"true {emotions[y[i]]}\npred {emotions[pred[k]]} {conf[k]:.0%}",
                color="tab:green" if right[k] else "tab:red",
                fontsize=8,
            )
            ax.set_axis_off()
        title = f"{model.name}: {int(right.sum())}/{len(idx)} sample test faces right"
    else:
        title = f"{model.name}: no test faces to show"
    fig.suptitle(title)
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    return idx


def feature_model(model):
    """A model returning (features, probabilities) of ``model`` for the same input."""
    import keras

    return keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output, model.output])


def traced_outputs(model, batch_size: int = 256):
    """``model`` as a function X (N, H, W) uint8/float -> (features (N, D), probabilities (N, C))
    float32, run in batches of ``batch_size`` through one traced function that is kept between
    calls (far cheaper per frame than ``model.predict`` on small inputs, and no retracing per
    call: what a live stream needs). Empty input gives empty arrays."""
    import tensorflow as tf

    fm = feature_model(model)
    d = int(fm.outputs[0].shape[-1])
    c = int(fm.outputs[1].shape[-1])
    traced = tf.function(lambda x: fm(x, training=False), reduce_retracing=True)

    def run(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(X) == 0:
            return np.zeros((0, d), np.float32), np.zeros((0, c), np.float32)
        feats, probs = [], []
        for s in range(0, len(X), batch_size):
            f, p = traced(tf.convert_to_tensor(X[s : s + batch_size, ..., None], tf.float32))
            feats.append(f.numpy())
            probs.append(p.numpy())
        return np.concatenate(feats).astype(np.float32), np.concatenate(probs).astype(np.float32)

    return run


def batched_outputs(model, X: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over X once (see :func:`traced_outputs`). X: (N, H, W) uint8/float; returns
    (features (N, D), probabilities (N, C)) float32. Empty input gives empty arrays."""
    return traced_outputs(model, batch_size)(X)


def evaluate_cnn(
    model_path: str | Path,
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    history_csv: str | Path,
    emotions: list[str],
    out_json: str | Path,
    out_confusion_png: str | Path,
    out_curves_png: str | Path,
    out_samples_png: str | Path | None = None,
) -> dict:
    """Score the model on the FER set's test split: accuracy, macro-F1, per-class P/R/F1 and the
    confusion matrix (JSON + PNG), and plot the training curves from the history CSV. With
    ``out_samples_png``, also draw a grid of 24 test faces with true and predicted labels."""
    import keras
    import pandas as pd

    from .evaluate import classification_metrics, plot_confusion
    from .plots import plot_training_curves

    model = keras.models.load_model(model_path)
    X, y = data["test"]
    probs = predict_proba(model, X)
    pred = probs.argmax(axis=1)
    names = np.array(emotions)
    metrics = classification_metrics(names[y].tolist(), names[pred].tolist(), emotions)
    metrics["split"] = "test"
    metrics["n_train"] = int(len(data["train"][1]))
    metrics["architecture"] = model.name
    metrics["parameters"] = int(model.count_params())
    Path(out_json).write_text(json.dumps(metrics, indent=2))
    plot_confusion(
        np.array(metrics["confusion"]),
        emotions,
        f"CNN on the FER test split (n={len(y)}, acc {metrics['accuracy']:.3f}, "
        f"macro-F1 {metrics['macro_f1']:.3f})",
        out_confusion_png,
    )
    if str(history_csv).endswith(".json"):  # a pretrained model: its provenance, no training here
        metrics["pretrained"] = json.loads(Path(history_csv).read_text())
        Path(out_json).write_text(json.dumps(metrics, indent=2))
        history = pd.DataFrame()
    else:
        history = pd.read_csv(history_csv)
    plot_training_curves(history, out_curves_png, title=f"{model.name} training")
    if out_samples_png is not None:
        plot_sample_predictions(model, X, y, emotions, out_samples_png)
    log.info("CNN test accuracy %.4f macro-F1 %.4f", metrics["accuracy"], metrics["macro_f1"])
    return metrics
