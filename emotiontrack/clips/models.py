"""The clip models (Keras 3), selectable by name (:data:`CLIP_MODELS`), and their inputs from a
:class:`~emotiontrack.formats.ClipSet`.

Every model classifies a whole clip of T frames (T = the set's ``length``) and ends in a softmax
over the set's classes (output ``probabilities``). The image models read grey face crops
(T, S, S, 1) in 0-255; the landmark model reads the per-frame face mesh. Frames where
``present`` is False (padding, no face) are zero in the inputs, and a second input ``present``
(T,) tells the models which frames count: every model zeroes the others itself (their content
never matters), and the recurrent layers skip them (Keras mask).

- ``cnn-lstm`` / ``cnn-bilstm``: a small per-frame CNN (TimeDistributed), then an LSTM / a
  bidirectional LSTM over the frames' feature vectors;
- ``cnn-ae-lstm``: the per-frame CNN, then an autoencoder bottleneck per frame (trained also to
  reconstruct a downsampled copy of the frame, output ``reconstruction``), then an LSTM over
  the bottleneck codes;
- ``cnn3d``: a stack of 3D convolutions over the (T, S, S) frame stack, each frame
  standardised first;
- ``landmark-cnn-bilstm``: the 468 mesh points per frame, normalised (centred, unit scale),
  a 1D CNN over time, then a bidirectional LSTM (needs the set's landmarks: config
  ``clips.datasets.<name>.landmarks: true``).
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import UserInputError
from ..features import resize_faces
from ..formats import ClipSet

CLIP_MODELS: tuple[str, ...] = (
    "cnn-lstm",
    "cnn-bilstm",
    "cnn-ae-lstm",
    "cnn3d",
    "landmark-cnn-bilstm",
)
LANDMARK_MODELS = ("landmark-cnn-bilstm",)
# the methods scored beside the models (emotiontrack.clips.evaluate)
BASELINES: tuple[str, ...] = ("majority", "frame-cnn")
# side of the downsampled frame the cnn-ae-lstm's autoencoder reconstructs
RECONSTRUCTION_SIZE = 12
# margin around the face box (fraction of its side, each side) of the image models' input, cut
# from the face finder's wider stored crops (ClipSet attribute ``margin``)
FACE_MARGIN = 0.1


def check_model(name: str, cs: ClipSet | None = None, source: str = "") -> None:
    """Raise UserInputError for an unknown model name, or a landmark model on a set without
    landmarks (``cs.landmarks`` None). ``source`` names the config/file in the message."""
    where = f"{source}: " if source else ""
    if name not in CLIP_MODELS:
        raise UserInputError(
            f"{where}unknown clip model {name!r}; choose one of {', '.join(CLIP_MODELS)}"
        )
    if name in LANDMARK_MODELS and cs is not None and cs.landmarks is None:
        raise UserInputError(
            f"{where}clip model {name!r} needs the face mesh per frame, but the clip set has no "
            "landmarks: set landmarks: true for this dataset in the clips config"
        )


def normalise_landmarks(landmarks: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, T, 468, 3) crop-relative mesh points -> (N, T, 468 * 3) float32: per frame centred on
    the points' mean and divided by their RMS distance from it (position and size of the face
    in the crop removed); frames not ``present`` (N, T) or without a mesh (NaN) are all zero."""
    lm = np.asarray(landmarks, np.float32)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without a mesh: all NaN
        centred = lm - np.nanmean(lm, axis=2, keepdims=True)
        scale = np.sqrt(np.nanmean(np.sum(centred**2, axis=-1), axis=-1))[..., None, None]
        out = centred / np.maximum(scale, 1e-6)
    ok = present & np.all(np.isfinite(out), axis=(2, 3))
    out = np.where(ok[..., None, None], out, 0.0).astype(np.float32)
    return out.reshape(*out.shape[:2], -1)


def frame_presence(cs: ClipSet, name: str) -> np.ndarray:
    """(N, T) float32 1/0: the frames a model reads (for the landmark model, only frames that
    also have a mesh)."""
    present = cs.present.copy()
    if name in LANDMARK_MODELS and cs.landmarks is not None:
        present &= np.all(np.isfinite(cs.landmarks), axis=(2, 3))
    return present.astype(np.float32)


def model_inputs(cs: ClipSet, name: str, input_size: int) -> dict[str, np.ndarray]:
    """The inputs of model ``name`` for every clip of ``cs``: ``frames`` (N, T, s, s, 1) float32
    0-255 face crops (:func:`face_region`) resized to ``input_size`` (image models) or
    (N, T, 1404) normalised landmarks (landmark model), zero where a frame is not present, and
    ``present`` (N, T)."""
    check_model(name, cs)
    present = frame_presence(cs, name)
    if name in LANDMARK_MODELS:
        return {"frames": normalise_landmarks(cs.landmarks, present > 0), "present": present}
    faces = face_region(cs.faces, float(cs.attrs.get("margin", 0.0)))
    N, T, S, _ = faces.shape
    faces = resize_faces(np.ascontiguousarray(faces).reshape(N * T, S, S), input_size).reshape(
        N, T, input_size, input_size
    )
    frames = faces.astype(np.float32) * present[..., None, None]
    return {"frames": frames[..., None], "present": present}


def face_region(faces: np.ndarray, stored_margin: float) -> np.ndarray:
    """(..., S, S) crops cut with ``stored_margin`` around the face box (the box is their
    central square of side S / (1 + 2 * stored_margin)) -> the central square with
    :data:`FACE_MARGIN` instead, where that is narrower; crops without a margin come back as
    they are."""
    S = faces.shape[-1]
    side = round(S * (1 + 2 * FACE_MARGIN) / (1 + 2 * stored_margin))
    if stored_margin <= FACE_MARGIN or side >= S:
        return faces
    at = (S - side) // 2
    return faces[..., at : at + side, at : at + side]


def clip_mean_va(cs: ClipSet) -> np.ndarray:
    """(N, 2) per-clip mean (valence, arousal) over the present frames that have them; NaN for
    a clip without any."""
    out = np.full((len(cs), 2), np.nan, np.float32)
    for j, values in enumerate((cs.valence, cs.arousal)):
        v = np.where(cs.present, values, np.nan)
        ok = np.isfinite(v).any(axis=1)
        out[ok, j] = np.nanmean(v[ok], axis=1)
    return out


def reconstruction_targets(frames: np.ndarray) -> np.ndarray:
    """(N, T, s, s, 1) 0-255 frames -> (N, T, r * r) float32 in 0..1: each frame averaged down
    to r = :data:`RECONSTRUCTION_SIZE` pixels a side (the cnn-ae-lstm's reconstruction target)."""
    N, T, s = frames.shape[:3]
    small = resize_faces(
        frames.reshape(N * T, s, s).clip(0, 255).astype(np.uint8), RECONSTRUCTION_SIZE
    )
    return (small.reshape(N, T, -1) / 255.0).astype(np.float32)


def _frame_cnn(input_size: int, width: int, features: int):
    """The per-frame CNN of the image sequence models: per-image standardisation, three blocks of
    3x3 conv + batch norm + ReLU + 2x2 max pooling (width, 2x, 4x filters), global average
    pooling, a ``features``-unit dense layer."""
    import keras
    from keras import layers

    inp = keras.Input((input_size, input_size, 1))
    x = layers.Rescaling(1.0 / 255.0)(inp)
    x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False)(x)
    for i in range(3):
        x = layers.Conv2D(width * 2**i, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(features, activation="relu")(x)
    return keras.Model(inp, x, name="frame_cnn")


def _zero_absent(frames, present):
    """Zero the frames not present (the models' inputs already are; this makes their content
    irrelevant inside the model too, for the layers that mix neighbouring frames)."""
    from keras import layers

    shape = (-1,) + (1,) * (len(frames.shape) - 2)
    return layers.Multiply(name="present_frames")([frames, layers.Reshape(shape)(present)])


def _masked(x, present):
    """Zero the feature vectors of frames not present, then mask them for the recurrent layers."""
    from keras import layers

    keep = layers.Reshape((-1, 1))(present)
    x = layers.Multiply()([x, keep])
    return layers.Masking(mask_value=0.0)(x)


def build_clip_model(
    name: str,
    length: int,
    n_classes: int,
    *,
    input_size: int = 48,
    n_landmark_values: int = 468 * 3,
    units: int = 64,
    width: int = 16,
    bottleneck: int = 32,
    dropout: float = 0.3,
    regression: bool = False,
):
    """An uncompiled Keras model ``name`` (one of :data:`CLIP_MODELS`) for clips of ``length``
    frames. Inputs: ``frames`` (length, input_size, input_size, 1) 0-255, or (length,
    ``n_landmark_values``) for the landmark model, and ``present`` (length,) 1/0. Outputs (dict):
    ``probabilities`` (n_classes,) softmax; cnn-ae-lstm also ``reconstruction`` (length, r * r)
    in 0..1. With ``regression`` the head is ``valence_arousal`` (n_classes,) tanh instead
    (per-clip mean valence and arousal on -1..1)."""
    import keras
    from keras import layers

    check_model(name)
    present = keras.Input((length,), name="present")
    outputs = {}
    if name in LANDMARK_MODELS:
        frames = keras.Input((length, n_landmark_values), name="frames")
        x = _zero_absent(frames, present)
        x = layers.Dense(units, activation="relu", name="point_projection")(x)
        for i in range(2):
            x = layers.Conv1D(units, 3, padding="same", activation="relu", name=f"tconv{i}")(x)
        x = _masked(x, present)
        x = layers.Bidirectional(layers.LSTM(units), name="bilstm")(x)
    elif name == "cnn3d":
        frames = keras.Input((length, input_size, input_size, 1), name="frames")
        x = layers.Rescaling(1.0 / 255.0)(_zero_absent(frames, present))
        # each frame standardised (zero mean, unit variance), as the per-frame CNN's input: the
        # lighting level and contrast of a recording are not the expression
        x = layers.LayerNormalization(axis=[2, 3, 4], center=False, scale=False)(x)
        t = length
        for i in range(3):
            x = layers.Conv3D(width * 2**i, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
            pool_t = 2 if t >= 2 else 1  # short clips (CK+: 3 frames) keep their time axis
            x = layers.MaxPooling3D((pool_t, 2, 2), padding="same")(x)
            t = -(-t // pool_t)
        x = layers.GlobalAveragePooling3D()(x)
        x = layers.Dense(units, activation="relu")(x)
    else:
        frames = keras.Input((length, input_size, input_size, 1), name="frames")
        x = layers.TimeDistributed(_frame_cnn(input_size, width, units), name="per_frame_cnn")(
            frames
        )
        if name == "cnn-ae-lstm":
            x = layers.TimeDistributed(
                layers.Dense(bottleneck, activation="relu"), name="bottleneck"
            )(x)
            outputs["reconstruction"] = layers.TimeDistributed(
                layers.Dense(RECONSTRUCTION_SIZE**2, activation="sigmoid"), name="reconstruction"
            )(x)
        x = _masked(x, present)
        if name == "cnn-bilstm":
            x = layers.Bidirectional(layers.LSTM(units), name="bilstm")(x)
        else:
            x = layers.LSTM(units, name="lstm")(x)
    x = layers.Dropout(dropout)(x)
    if regression:
        outputs["valence_arousal"] = layers.Dense(
            n_classes, activation="tanh", name="valence_arousal"
        )(x)
    else:
        outputs["probabilities"] = layers.Dense(
            n_classes, activation="softmax", name="probabilities"
        )(x)
    return keras.Model({"frames": frames, "present": present}, outputs, name=name)
