"""Per-frame CNN features and class probabilities for a session (or its augmented copies).

Output HDF5: ``features`` (..., T, D) float32 (zeros where no face), ``probabilities``
(..., T, C) float32 (NaN where no face), ``timestamps`` (T,) seconds, ``frame_index`` (T,),
``face_found`` (T,) bool; attributes: ``model_sha256``, ``emotions`` (JSON list), ``fps``,
``source_sha256``, ``inference`` (what ran the CNN), ``crop_geometry`` (JSON: the crop the CNN
was fed, :class:`~emotiontrack.crops.CropGeometry`, cut from the frames file's wide crops whose
margin is ``stored_crop_margin``; ``null`` when the stored crops were fed whole). Leading dims
are () for a session and (K,) for K augmented copies of it.

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

from . import UserInputError
from .crops import CropGeometry, classify, model_crops, read_geometry
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


def load_cnn(model_path: str | Path, threads: int = 1, emotions: list[str] | None = None):
    """The CNN of ``model_path`` (an ``.onnx`` export, :mod:`emotiontrack.export`) as a function
    (N, S, S) uint8 -> (features (N, D), probabilities (N, C)) float32, plus its input size S,
    class count C, feature width D and a provenance string. Run by onnxruntime
    (:class:`~emotiontrack.inference.OnnxModel`) on ``threads`` CPU threads: TensorFlow is never
    imported. Raises UserInputError for a file that is not such a model.

    The CLI and the service may also name a built-in pretrained model
    (:data:`emotiontrack.pretrained.BUILTIN`, wrapped for ``emotions``) or a ``.keras``/``.h5``
    model: its ONNX export is made once and cached (:func:`emotiontrack.export.cached_onnx`)."""
    from .inference import OnnxModel

    if not str(model_path).endswith(".onnx"):
        from .export import cached_onnx

        model_path = cached_onnx(str(model_path), emotions)
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
) -> dict:
    """Run the CNN over the face crops of ``frames_h5`` (only frames with a face, ``chunk`` frames
    at a time, each chunk's results written before the next is read, so memory stays flat in
    video length: a few MB per chunk beside the process's ~100 MB) and write ``out_h5`` as
    described in the module docstring. ``crop``: the model's crop geometry (or the path of its
    sidecar, :func:`~emotiontrack.crops.read_geometry`), cut from the stored wide crops
    (:func:`~emotiontrack.crops.model_crops`); None feeds the stored crops whole, resized to the
    model's input. ``threads``: see :func:`load_cnn`; ``cnn``: its result when already loaded
    (a service that keeps the model in memory; ``model_path`` is then only recorded).
    Returns a summary dict (n_frames, n_faces, feature_dim)."""
    from .pretrained import BUILTIN, resolve

    geometry = read_geometry(crop) if isinstance(crop, (str, Path)) else crop
    run, size, n_classes, dim, engine_name = cnn or load_cnn(model_path, threads)
    model_file = resolve(str(model_path)) if str(model_path) in BUILTIN else model_path
    if n_classes != len(emotions):
        raise ValueError(
            f"{model_path}: model has {n_classes} outputs "
            f"but the config lists {len(emotions)} emotions"
        )
    if geometry is not None and geometry.size != size:
        raise UserInputError(
            f"{crop}: crop size {geometry.size} does not match {model_path}'s input size {size}"
        )
    out_h5 = Path(out_h5)
    out_h5.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_h5.with_suffix(".h5.part")
    with h5py.File(frames_h5, "r") as src, h5py.File(tmp, "w") as dst:
        faces = src["faces"]
        found = src["face_found"][...]
        stored_margin = _stored_margin(src, frames_h5) if geometry is not None else None
        lead = faces.shape[:-2]  # (T,) or (K, T)
        T = found.shape[0]
        rows = [()] if len(lead) == 1 else [(k,) for k in range(lead[0])]  # copies
        step = max(1, min(chunk, T))
        feats = _dataset(dst, "features", (*lead, dim), step, 0.0)
        probs = _dataset(dst, "probabilities", (*lead, n_classes), step, np.nan)
        todo = [(r, s) for r in rows for s in range(0, T, step)]
        # one set of chunk-sized buffers for the whole file: fresh multi-MB arrays per chunk
        # fragment the heap, and the job's peak memory grew ~10% from a 1- to a 10-min video
        buf = np.empty((step, *faces.shape[-2:]), faces.dtype)
        picked = np.empty_like(buf)
        block_f = np.empty((step, dim), np.float32)
        block_p = np.empty((step, n_classes), np.float32)
        for r, s in tqdm(todo, desc="features", mininterval=5):
            sel = np.flatnonzero(found[s : s + step])
            if not len(sel):
                continue
            n = min(step, T - s)
            faces.read_direct(buf, (*r, slice(s, s + n)), np.s_[:n])
            crops = np.take(buf[:n], sel, axis=0, out=picked[: len(sel)])
            if geometry is None:
                f, p = classify_crops(run, size, crops)
            else:
                f, p = classify(run, model_crops(crops, stored_margin, geometry), geometry)
            block_f[:n], block_p[:n] = 0.0, np.nan
            block_f[sel], block_p[sel] = f, p
            feats[(*r, slice(s, s + n))] = block_f[:n]
            probs[(*r, slice(s, s + n))] = block_p[:n]
        dst.create_dataset("timestamps", data=src["timestamps"][...])
        dst.create_dataset("face_found", data=found)
        frame_index = src["frame_index"][...] if "frame_index" in src else np.arange(T)
        dst.create_dataset("frame_index", data=frame_index)
        attrs = dict(src.attrs)
        dst.attrs.update(
            {
                "model": str(model_path),
                "model_sha256": file_sha256(model_file),
                "inference": engine_name,
                "emotions": json.dumps(list(emotions)),
                "fps": float(attrs.get("fps_sampled", 0.0)),
                "source": str(attrs.get("source", "")),
                "source_sha256": str(attrs.get("source_sha256", "")),
                "frames_file": str(frames_h5),
                "crop_geometry": json.dumps(None if geometry is None else geometry.to_dict()),
                "stored_crop_margin": np.nan if stored_margin is None else float(stored_margin),
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


def _stored_margin(src: h5py.File, path: str | Path) -> float:
    """The margin the frames file's crops were cut with (attribute ``margin``)."""
    if "margin" not in src.attrs:
        raise UserInputError(
            f"{path}: frames file without a 'margin' attribute (written by an older version?): "
            "rerun its extract_frames job"
        )
    return float(src.attrs["margin"])


def _dataset(h5: h5py.File, name: str, shape: tuple[int, ...], rows: int, fill: float):
    """A gzip-compressed float32 dataset of ``shape`` pre-filled with ``fill``, chunked by
    ``rows`` frames along the time axis."""
    if 0 in shape:
        return h5.create_dataset(name, shape=shape, dtype="float32")
    chunks = (*([1] * (len(shape) - 2)), rows, shape[-1])
    return h5.create_dataset(
        name, shape=shape, dtype="float32", chunks=chunks, compression="gzip", fillvalue=fill
    )
