"""Per-frame CNN features and class probabilities for a session (or its augmented copies).

Output HDF5: ``features`` (..., T, D) float32 (zeros where no face), ``probabilities``
(..., T, C) float32 (NaN where no face), ``timestamps`` (T,) seconds, ``frame_index`` (T,),
``face_found`` (T,) bool; attributes: ``model_sha256``, ``emotions`` (JSON list), ``fps``,
``source_sha256``. Leading dims are () for a session and (K,) for K augmented copies of it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from .cnn import batched_outputs
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


def extract_features(
    frames_h5: str | Path,
    model_path: str | Path,
    out_h5: str | Path,
    emotions: list[str],
    *,
    batch_size: int = 256,
    chunk: int = 2048,
) -> dict:
    """Run the CNN over the face crops of ``frames_h5`` (only frames with a face, ``chunk`` crops
    at a time, so memory stays flat) and write ``out_h5`` as described in the module docstring."""
    import keras

    model = keras.models.load_model(model_path, compile=False)
    size = int(model.input_shape[1])
    n_classes = int(model.output_shape[-1])
    if n_classes != len(emotions):
        raise ValueError(
            f"{model_path}: model has {n_classes} outputs "
            f"but the config lists {len(emotions)} emotions"
        )
    with h5py.File(frames_h5, "r") as src:
        faces = src["faces"]
        found = src["face_found"][...]
        lead = faces.shape[:-2]  # (T,) or (K, T)
        T = found.shape[0]
        flat_found = np.broadcast_to(found, lead).reshape(-1)
        n = flat_found.size
        dim = int(model.get_layer("features").output.shape[-1])
        feats = np.zeros((n, dim), np.float32)
        probs = np.full((n, n_classes), np.nan, np.float32)
        flat_faces = faces[...].reshape(n, *faces.shape[-2:]) if len(lead) > 1 else None
        for s in tqdm(range(0, n, chunk), desc="features", mininterval=5):
            sel = np.flatnonzero(flat_found[s : s + chunk]) + s
            if not len(sel):
                continue
            crops = flat_faces[sel] if flat_faces is not None else faces[s : s + chunk][sel - s]
            f, p = batched_outputs(model, resize_faces(crops, size), batch_size)
            feats[sel], probs[sel] = f, p
        attrs = dict(src.attrs)
        timestamps = src["timestamps"][...]
        frame_index = src["frame_index"][...] if "frame_index" in src else np.arange(T)
    out_h5 = Path(out_h5)
    out_h5.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(out_h5, "w") as dst:
        dst.create_dataset("features", data=feats.reshape(*lead, dim), compression="gzip")
        dst.create_dataset(
            "probabilities", data=probs.reshape(*lead, n_classes), compression="gzip"
        )
        dst.create_dataset("timestamps", data=timestamps)
        dst.create_dataset("face_found", data=found)
        dst.create_dataset("frame_index", data=frame_index)
        dst.attrs.update(
            {
                "model": str(model_path),
                "model_sha256": file_sha256(model_path),
                "emotions": json.dumps(list(emotions)),
                "fps": float(attrs.get("fps_sampled", 0.0)),
                "source": str(attrs.get("source", "")),
                "source_sha256": str(attrs.get("source_sha256", "")),
                "frames_file": str(frames_h5),
            }
        )
    log.info("%s: %d frames (%d with a face) -> %s", frames_h5, T, int(found.sum()), out_h5)
    return {"n_frames": T, "n_faces": int(found.sum()), "feature_dim": dim}
