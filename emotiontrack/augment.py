"""Augmented copies of a training session's face sequence.

Each copy applies one seeded, sequence-level transform (horizontal flip, small rotation, zoom,
brightness and contrast change) plus a little per-frame jitter and noise, so the copy looks like the
same session recorded slightly differently. Expressions are left-right symmetric enough that a flip
keeps the label; frames without a face stay empty and flagged.

The copies are made of the frames job's wide crops (:mod:`emotiontrack.crops`), before each CNN's
own crop is cut: rotation and zoom turn them about the face box's centre, and the features job
cuts the model's crop from a copy as from the original (the crops' ``margin`` attribute is kept).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from .formats import COPIES, read_frames, write_frames


def augment_faces(
    faces: np.ndarray, found: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """(T, S, S) uint8 crops -> one augmented copy (T, S, S) uint8 and the parameters drawn."""
    T, S, _ = faces.shape
    p = {
        "flip": bool(rng.random() < 0.5),
        "angle_deg": float(rng.uniform(-10, 10)),
        "zoom": float(rng.uniform(0.92, 1.08)),
        "brightness": float(rng.uniform(-30, 30)),
        "contrast": float(rng.uniform(0.7, 1.3)),
        "noise_sd": float(rng.uniform(0, 6)),
    }
    out = np.zeros_like(faces)
    for t in np.flatnonzero(found):
        jitter = rng.normal(0, 1.0, 2)
        m = cv2.getRotationMatrix2D((S / 2, S / 2), p["angle_deg"] + rng.normal(0, 1.0), p["zoom"])
        m[:, 2] += jitter
        img = faces[t][:, ::-1] if p["flip"] else faces[t]
        img = cv2.warpAffine(img, m, (S, S), borderMode=cv2.BORDER_REFLECT)
        img = (img.astype(np.float32) - 128.0) * p["contrast"] + 128.0 + p["brightness"]
        img += rng.normal(0, p["noise_sd"], img.shape)
        out[t] = np.clip(img, 0, 255).astype(np.uint8)
    return out, p


def augment_session(
    frames_h5: str | Path, out_h5: str | Path, *, copies: int = 2, seed: int = 0
) -> dict:
    """Write ``copies`` augmented versions of a session: ``faces`` (K, T, S, S) uint8 plus the
    session's ``timestamps``, ``face_found`` and, when it has them, ``frame_index`` and ``boxes``;
    the session's attributes (the crops' ``margin`` among them) are kept and the drawn parameters
    go in attribute ``params``."""
    src = read_frames(frames_h5)
    # Seed from the config seed and the session's content, so each session gets its own draws.
    sha = str(src.attrs.get("source_sha256", "0"))
    rng = np.random.default_rng([seed, int(sha[:8] or "0", 16)])
    copies_out, params = [], []
    for _ in range(copies):
        a, p = augment_faces(src.faces, src.face_found, rng)
        copies_out.append(a)
        params.append(p)
    faces = np.stack(copies_out) if copies_out else np.zeros((0, *src.faces.shape), np.uint8)
    attrs = {**src.attrs, "params": json.dumps(params), COPIES: copies}
    aug = replace(src, faces=faces, keypoints=None, mesh=None, attrs=attrs)
    write_frames(out_h5, aug)
    return {"copies": copies, "params": params}
