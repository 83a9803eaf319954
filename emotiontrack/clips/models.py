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

from .inputs import (  # noqa: F401  (the models' names and inputs, re-exported)
    BASELINES,
    CLIP_MODELS,
    FACE_MARGIN,
    LANDMARK_MODELS,
    RECONSTRUCTION_SIZE,
    check_model,
    clip_mean_va,
    face_region,
    frame_presence,
    model_inputs,
    normalise_landmarks,
    reconstruction_targets,
)


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
