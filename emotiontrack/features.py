"""Per-frame CNN features and class probabilities for a session (or its augmented copies).

Output: a features file (:class:`emotiontrack.formats.Features`, written by
:func:`emotiontrack.formats.write_features`): ``features`` (T, D) float32 (zeros where no face),
``probabilities`` (T, C) float32 (NaN where no face), ``timestamps``, ``frame_index``,
``face_found``; attributes ``model_sha256``, ``emotions``, ``fps``, ``source_sha256``,
``inference`` (what ran the CNN), ``crop_geometry`` (JSON: the crop the CNN was fed,
:class:`~emotiontrack.crops.CropGeometry`, cut from the frames file's wide crops whose margin is
``stored_crop_margin``; ``null`` when the stored crops were fed whole). A frames file of K
augmented copies gives a features file of K copies (``copies`` = K, arrays (K, T, ...)).

The CNN is its ONNX export run by onnxruntime (:mod:`emotiontrack.inference`): a job never
imports TensorFlow, which would cost more time and memory than the whole session's faces.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from . import UserInputError
from .crops import CropGeometry, classify, model_crops, read_geometry
from .formats import FPS, Features, Frames, open_faces, read_frames, write_features
from .logs import progress
from .video import sha256sum

log = logging.getLogger(__name__)


def resize_faces(faces: np.ndarray, size: int) -> np.ndarray:
    """(N, S, S) uint8 -> (N, size, size) uint8 (area interpolation when shrinking)."""
    if faces.shape[1:] == (size, size):
        return faces
    interp = cv2.INTER_AREA if faces.shape[1] > size else cv2.INTER_LINEAR
    out = np.empty((len(faces), size, size), np.uint8)
    for i, f in enumerate(faces):
        out[i] = cv2.resize(f, (size, size), interpolation=interp)
    return out


def load_cnn(model_path: str | Path, threads: int = 1):
    """The CNN of ``model_path`` (an ``.onnx`` export, :mod:`emotiontrack.export`) as a function
    (N, S, S) uint8 -> (features (N, D), probabilities (N, C)) float32, plus its input size S,
    class count C, feature width D and a provenance string. Run by onnxruntime
    (:class:`~emotiontrack.inference.OnnxModel`) on ``threads`` CPU threads: TensorFlow is never
    imported. Raises UserInputError for a file that is not such a model. (The CLI and the service
    also take a built-in model's name or a ``.keras`` file: `emotiontrack.live._load_model`
    exports it to ONNX once, cached, then calls this.)"""
    from .inference import OnnxModel

    net = OnnxModel(model_path, threads)

    def run(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, feats = net.predict(crops)
        return feats, probs

    return run, net.input_size, net.n_classes, net.feature_dim, net.engine


def classify_crops(run, size: int, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CNN step shared by the features job and the live/image/web interfaces: stored face
    crops (N, S', S') uint8 are resized to the model's input ``size`` and run through ``run``
    (from :func:`load_cnn`). Returns (features (N, D), probabilities (N, C)) float32."""
    return run(resize_faces(np.asarray(crops, np.uint8), size))


def extract_features(
    frames_h5: str | Path,
    model_path: str | Path,
    out_h5: str | Path,
    emotions: list[str],
    *,
    crop: CropGeometry | str | Path | None = None,
    chunk: int = 256,
    threads: int = 1,
    cnn: tuple | None = None,
    model_sha256: str | None = None,
) -> dict:
    """Run the CNN over the face crops of ``frames_h5`` (only frames with a face, ``chunk`` frames
    read at a time, so the crops never are all in memory; the outputs are, T x (D + C) float32,
    ~0.6 MB a minute of video at 5 fps and D = 256) and write ``out_h5`` as
    described in the module docstring. ``crop``: the model's crop geometry (or the path of its
    sidecar, :func:`~emotiontrack.crops.read_geometry`), cut from the stored wide crops
    (:func:`~emotiontrack.crops.model_crops`); None feeds the stored crops whole, resized to the
    model's input. ``threads``: see :func:`load_cnn`; ``cnn``: its result when already loaded
    (a service that keeps the model in memory; ``model_path`` is then only recorded, with
    ``model_sha256``, the hash of the model's file, when it is a name and not a file).
    Returns a summary dict (n_frames, n_faces, feature_dim)."""
    geometry = read_geometry(crop) if isinstance(crop, (str, Path)) else crop
    run, size, n_classes, dim, engine_name = cnn or load_cnn(model_path, threads)
    if n_classes != len(emotions):
        raise ValueError(
            f"{model_path}: model has {n_classes} outputs "
            f"but the config lists {len(emotions)} emotions"
        )
    if geometry is not None and geometry.size != size:
        raise UserInputError(
            f"{crop}: crop size {geometry.size} does not match {model_path}'s input size {size}"
        )
    fr = read_frames(frames_h5, faces=False)
    found, T = fr.face_found, len(fr.face_found)
    stored_margin = _stored_margin(fr, frames_h5) if geometry is not None else None
    K = max(fr.copies, 1)
    feats = np.zeros((K, T, dim), np.float32)
    probs = np.full((K, T, n_classes), np.nan, np.float32)
    step = max(1, min(chunk, T))
    todo = [(k, s) for k in range(K) for s in range(0, T, step)]
    with open_faces(frames_h5) as faces:
        # one buffer the blocks are read into: memory stays flat in the video's length (a new
        # array per block grew the job's peak RSS by ~1 MB a minute of video)
        buf = np.empty((step, *faces.shape[-2:]), faces.dtype)
        for k, s in progress(todo, len(todo), "features (blocks)"):
            sel = np.flatnonzero(found[s : s + step])
            if not len(sel):
                continue
            n = min(step, T - s)
            faces.read_direct(
                buf, np.s_[k, s : s + n] if fr.copies else np.s_[s : s + n], np.s_[:n]
            )
            crops = buf[sel]
            if geometry is None:
                f, p = classify_crops(run, size, crops)
            else:
                f, p = classify(run, model_crops(crops, stored_margin, geometry), geometry)
            feats[k, s + sel], probs[k, s + sel] = f, p
    attrs = {
        "model": str(model_path),
        "model_sha256": model_sha256 or sha256sum(model_path),
        "inference": engine_name,
        FPS: fr.fps,
        "source": str(fr.attrs.get("source", "")),
        "source_sha256": str(fr.attrs.get("source_sha256", "")),
        "frames_file": str(frames_h5),
        "crop_geometry": json.dumps(None if geometry is None else geometry.to_dict()),
        "stored_crop_margin": np.nan if stored_margin is None else float(stored_margin),
    }
    timelines = [
        Features(
            features=feats[k],
            probabilities=probs[k],
            face_found=found,
            timestamps=fr.timestamps,
            frame_index=fr.frame_index,
            emotions=list(emotions),
            attrs=attrs,
        )
        for k in range(K)
    ]
    write_features(out_h5, timelines if fr.copies else timelines[0])
    log.info(
        "%s: %d frames (%d with a face) -> %s (%s)",
        frames_h5,
        T,
        int(found.sum()),
        out_h5,
        engine_name,
    )
    return {"n_frames": T, "n_faces": int(found.sum()), "feature_dim": dim}


def _stored_margin(fr: Frames, path: str | Path) -> float:
    """The margin the frames file's crops were cut with (attribute ``margin``)."""
    if "margin" not in fr.attrs:
        raise UserInputError(
            f"{path}: frames file without a 'margin' attribute (written by an older version?): "
            "rerun its extract_frames job"
        )
    return float(fr.attrs["margin"])
