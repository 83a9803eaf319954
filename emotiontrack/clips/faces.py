"""A clip's face crops and face mesh, cut the way the frames stage cuts a session's.

:func:`crop_frames` finds the face in each kept frame with the frames stage's finder
(:func:`emotiontrack.faces.face_finder`; its ``detect_face``, the largest face) and cuts the
stored crop of :func:`emotiontrack.crops.stored_crop` (the box is the central half of a
:data:`~emotiontrack.crops.STORED_SIZE` square); frames that already are face crops are only
resized (:data:`GIVEN_CROP_SIZE`). With a :class:`~emotiontrack.blazeface.FaceMesh` the 468
mesh points are given relative to the crop (x, y in 0..1 of its side, z / side).
:func:`landmark_agreement` checks the found faces against a dataset's own landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from emotiontrack.blazeface import MESH_POINTS, FaceMesh
from emotiontrack.crops import STORED_MARGIN, STORED_SIZE, stored_crop
from emotiontrack.faces import BlazeFaceDetector, to_gray

GIVEN_CROP_SIZE = 64  # side of the crops stored for frames that already are face crops


def _mesh_relative(mesh: np.ndarray, x0: float, y0: float, side: float) -> np.ndarray:
    """Face-mesh points in image pixels -> crop-relative (x, y in 0..1 of the square crop at
    (x0, y0) of side ``side``; z divided by the side)."""
    out = mesh.astype(np.float32).copy()
    out[:, 0] = (mesh[:, 0] - x0) / side
    out[:, 1] = (mesh[:, 1] - y0) / side
    out[:, 2] = mesh[:, 2] / side
    return out


def _level_eyes(box) -> np.ndarray:
    """Key points with level eyes for a face given without any (Haar, or a whole-image crop)."""
    x, y, w, h = box
    kp = np.full((6, 2), np.nan, np.float32)
    kp[0] = (x + 0.3 * w, y + 0.4 * h)
    kp[1] = (x + 0.7 * w, y + 0.4 * h)
    return kp


@dataclass
class CropResult:
    faces: np.ndarray  # (T, S, S) uint8
    present: np.ndarray  # (T,) bool
    landmarks: np.ndarray | None  # (T, 468, 3) float32 crop-relative, NaN without a face
    boxes: np.ndarray  # (T, 4) float64 x, y, w, h pixels, NaN without a face


def crop_frames(
    frames: list[np.ndarray | None], finder=None, mesher: FaceMesh | None = None
) -> CropResult:
    """Face crops of a clip's frames (None: padding). ``finder``: a detector of the frames stage
    (its ``detect_face``) whose largest face is cut with :func:`stored_crop`; None: the frame is
    the crop, resized to :data:`GIVEN_CROP_SIZE`. ``mesher``: also the face mesh per frame."""
    size = GIVEN_CROP_SIZE if finder is None else STORED_SIZE
    T = len(frames)
    faces = np.zeros((T, size, size), np.uint8)
    present = np.zeros(T, bool)
    boxes = np.full((T, 4), np.nan)
    lms = np.full((T, MESH_POINTS, 3), np.nan, np.float32) if mesher is not None else None
    colour = isinstance(getattr(finder, "detector", finder), BlazeFaceDetector)
    for t, frame in enumerate(frames):
        if frame is None:
            continue
        if finder is None:
            H, W = frame.shape[:2]
            box, kp = (0, 0, W, H), _level_eyes((0, 0, W, H))
            faces[t] = cv2.resize(to_gray(frame), (size, size), interpolation=cv2.INTER_AREA)
            x0, y0, side = 0.0, 0.0, float(max(W, H))
        else:
            face = finder.detect_face(frame if colour else to_gray(frame))
            if face is None:
                continue
            box, kp = face.box, face.keypoints
            if not np.isfinite(kp[:2]).all():
                kp = _level_eyes(box)
            faces[t] = stored_crop(frame, box)
            x, y, w, h = box
            side = max(w, h) * (1 + 2 * STORED_MARGIN)
            x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
        present[t] = True
        boxes[t] = box
        if mesher is not None:
            lms[t] = _mesh_relative(mesher(to_gray(frame), box, kp), x0, y0, side)
    return CropResult(faces, present, lms, boxes)


def landmark_agreement(boxes: np.ndarray, ref: np.ndarray) -> float:
    """Share of frames with a detected box whose centre lies inside the bounding box of the
    dataset's own landmarks for that frame (``boxes`` (T, 4) NaN where none, ``ref`` (T, P, 2));
    NaN when no frame has both."""
    ok = np.isfinite(boxes).all(axis=1) & np.isfinite(ref).all(axis=(1, 2))
    if not ok.any():
        return float("nan")
    cx = boxes[ok, 0] + boxes[ok, 2] / 2
    cy = boxes[ok, 1] + boxes[ok, 3] / 2
    r = ref[ok]
    inside = (
        (r[..., 0].min(1) <= cx)
        & (cx <= r[..., 0].max(1))
        & (r[..., 1].min(1) <= cy)
        & (cy <= r[..., 1].max(1))
    )
    return float(inside.mean())
