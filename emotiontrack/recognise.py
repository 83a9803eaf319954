"""Detect -> crop -> classify every face in one image: the code path the CLI, the web service and
the workflow share.

The crop is cut in the workflow's two stages (:mod:`emotiontrack.crops`): the frames job's wide
crop around the detector box, then the model's own geometry from it, as the features job does;
so a face gets the same crop, and the same probabilities, here as in the features HDF5 of a
video frame with the same box.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .crops import STORED_MARGIN, CropGeometry, classify, model_crops, stored_crop
from .faces import Box, face_finder, to_gray

# A CNN as :func:`emotiontrack.features.load_cnn` returns it: (N, S, S) uint8 gray crops ->
# (features (N, D), probabilities (N, C)) float32.
CNN = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def default_detector():
    """The workflow's default face detector (the ``frames`` config defaults), detecting in the
    whole image: what a photo is searched with unless the caller passes another."""
    return face_finder(track=False)


def find_faces(detector, image: np.ndarray) -> list[Box]:
    """Every face ``detector`` finds in a BGR or gray image (the frames job gives BlazeFace the
    BGR frame, the Haar cascade gray; both accept either), largest first, as boxes: its
    ``detect_faces`` (all faces, objects with a ``box``) when it has one, else the single face of
    its ``detect``."""
    if hasattr(detector, "detect_faces"):
        return [tuple(int(v) for v in f.box) for f in detector.detect_faces(image)]
    box = detector.detect(image)
    return [] if box is None else [tuple(int(v) for v in box)]


def crops_for(gray: np.ndarray, boxes: list[Box], geometry: CropGeometry) -> np.ndarray:
    """The model crops (N, size, size) uint8 of ``boxes`` in a gray frame: the stored wide crop,
    then the model's geometry cut from it (exactly the frames job then the features job)."""
    if not boxes:
        return np.zeros((0, geometry.size, geometry.size), np.uint8)
    wide = np.stack([stored_crop(gray, b) for b in boxes])
    return model_crops(wide, STORED_MARGIN, geometry)


def faces_in_image(
    bgr: np.ndarray, detector, cnn: CNN, geometry: CropGeometry
) -> list[tuple[Box, np.ndarray]]:
    """Every face in an image with its emotion probabilities.

    ``bgr``: (H, W, 3) BGR or (H, W) gray uint8 image; ``detector``: a face detector of
    :mod:`emotiontrack.faces` (see :func:`find_faces`; :func:`default_detector`); ``cnn``:
    (N, S, S) uint8 crops -> (features, probabilities), e.g. the first value
    :func:`emotiontrack.features.load_cnn` returns; ``geometry``: the crop that CNN takes (its
    sidecar, :func:`emotiontrack.crops.read_geometry`). Returns [(box (x, y, w, h) image
    pixels, probabilities (C,) float32 in the model's output order)], largest face first; []
    when there is no face."""
    gray = to_gray(bgr)
    boxes = find_faces(detector, bgr)
    if not boxes:
        return []
    _, probs = classify(cnn, crops_for(gray, boxes, geometry), geometry)
    return list(zip(boxes, probs, strict=True))
