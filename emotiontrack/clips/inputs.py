"""The clip models' names and their inputs from a :class:`~emotiontrack.formats.ClipSet`
(no Keras here: scoring and the baselines use these without TensorFlow; the models themselves
are in :mod:`emotiontrack.clips.models`)."""

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
