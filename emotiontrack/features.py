"""Per-frame CNN features and class probabilities for a session (or its augmented copies).

Output HDF5: ``features`` (..., T, D) float32 (zeros where no face), ``probabilities``
(..., T, C) float32 (NaN where no face), ``timestamps`` (T,) seconds, ``frame_index`` (T,),
``face_found`` (T,) bool; attributes: ``model_sha256``, ``emotions`` (JSON list), ``fps``,
``source_sha256``, ``inference`` (what ran the CNN). Leading dims are () for a session and (K,)
for K augmented copies of it.

The CNN is its ONNX export run by onnxruntime (:mod:`emotiontrack.inference`): a job never
imports TensorFlow, which would cost more time and memory than the whole session's faces.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from .tfutil import file_sha256

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
    imported. Raises UserInputError for a file that is not such a model."""
    from .inference import OnnxModel

    net = OnnxModel(model_path, threads)

    def run(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, feats = net.predict(crops)
        return feats, probs

    return run, net.input_size, net.n_classes, net.feature_dim, net.engine


def extract_features(
    frames_h5: str | Path,
    model_path: str | Path,
    out_h5: str | Path,
    emotions: list[str],
    *,
    chunk: int = 256,
    threads: int = 1,
) -> dict:
    """Run the CNN over the face crops of ``frames_h5`` (only frames with a face, ``chunk`` frames
    at a time, each chunk's results written before the next is read, so memory stays flat in
    video length: a few MB per chunk beside the process's ~100 MB) and write ``out_h5`` as
    described in the module docstring. ``threads``: see :func:`load_cnn`.
    Returns a summary dict (n_frames, n_faces, feature_dim)."""
    run, size, n_classes, dim, engine_name = load_cnn(model_path, threads)
    if n_classes != len(emotions):
        raise ValueError(
            f"{model_path}: model has {n_classes} outputs "
            f"but the config lists {len(emotions)} emotions"
        )
    out_h5 = Path(out_h5)
    out_h5.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_h5.with_suffix(".h5.part")
    with h5py.File(frames_h5, "r") as src, h5py.File(tmp, "w") as dst:
        faces = src["faces"]
        found = src["face_found"][...]
        lead = faces.shape[:-2]  # (T,) or (K, T)
        T = found.shape[0]
        rows = [()] if len(lead) == 1 else [(k,) for k in range(lead[0])]  # copies
        step = max(1, min(chunk, T))
        feats = _dataset(dst, "features", (*lead, dim), step, 0.0)
        probs = _dataset(dst, "probabilities", (*lead, n_classes), step, np.nan)
        todo = [(r, s) for r in rows for s in range(0, T, step)]
        for r, s in tqdm(todo, desc="features", mininterval=5):
            sel = np.flatnonzero(found[s : s + step])
            if not len(sel):
                continue
            crops = faces[(*r, slice(s, s + step))][sel]
            f, p = run(resize_faces(crops, size))
            n = min(step, T - s)
            block_f = np.zeros((n, dim), np.float32)
            block_p = np.full((n, n_classes), np.nan, np.float32)
            block_f[sel], block_p[sel] = f, p
            feats[(*r, slice(s, s + n))] = block_f
            probs[(*r, slice(s, s + n))] = block_p
        dst.create_dataset("timestamps", data=src["timestamps"][...])
        dst.create_dataset("face_found", data=found)
        frame_index = src["frame_index"][...] if "frame_index" in src else np.arange(T)
        dst.create_dataset("frame_index", data=frame_index)
        attrs = dict(src.attrs)
        dst.attrs.update(
            {
                "model": str(model_path),
                "model_sha256": file_sha256(model_path),
                "inference": engine_name,
                "emotions": json.dumps(list(emotions)),
                "fps": float(attrs.get("fps_sampled", 0.0)),
                "source": str(attrs.get("source", "")),
                "source_sha256": str(attrs.get("source_sha256", "")),
                "frames_file": str(frames_h5),
            }
        )
    tmp.replace(out_h5)
    log.info(
        "%s: %d frames (%d with a face) -> %s (%s)",
        frames_h5,
        T,
        int(found.sum()),
        out_h5,
        engine_name,
    )
    return {"n_frames": T, "n_faces": int(found.sum()), "feature_dim": dim}


def _dataset(h5: h5py.File, name: str, shape: tuple[int, ...], rows: int, fill: float):
    """A gzip-compressed float32 dataset of ``shape`` pre-filled with ``fill``, chunked by
    ``rows`` frames along the time axis."""
    if 0 in shape:
        return h5.create_dataset(name, shape=shape, dtype="float32")
    chunks = (*([1] * (len(shape) - 2)), rows, shape[-1])
    return h5.create_dataset(
        name, shape=shape, dtype="float32", chunks=chunks, compression="gzip", fillvalue=fill
    )
