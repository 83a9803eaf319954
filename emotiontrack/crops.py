"""Face crop geometry: the wide crop the frames job stores, and each CNN's own crop cut from it.

Two stages, one cutter (:func:`emotiontrack.faces.crop_face`):

1. The frames job stores, per sampled frame, a **wide** crop that does not depend on the CNN
   (it runs while the CNN trains): a square centred on the detector box's centre, of side
   ``max(w, h) * (1 + 2 * STORED_MARGIN)`` frame pixels, resized to ``STORED_SIZE`` x
   ``STORED_SIZE`` gray (:func:`stored_crop`). The box is then always the central square of side
   ``STORED_SIZE / (1 + 2 * STORED_MARGIN)`` of the stored crop (64 of 128 pixels), so the
   stored margin (HDF5 attribute ``margin``) is all the box relation a later cut needs.
2. Each CNN declares the crop it was trained on, :class:`CropGeometry` (input side ``size`` and
   ``margin`` around the detector box), recorded with the model as a small JSON sidecar
   (:func:`write_geometry` / :func:`read_geometry`, the one writer and reader). The features job
   and :func:`emotiontrack.recognise.faces_in_image` cut it from the wide crop
   (:func:`model_crops`): the central square of side ``max(w, h) * (1 + 2 * margin)``, resized
   to ``size``.

A video frame's crop for a model is therefore the same whether it went through the frames HDF5
or came straight from an image (``tests/test_crops.py``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import UserInputError
from .faces import Box, crop_face

STORED_MARGIN = 0.5  # the stored crop is twice the box side: room for any model's margin
STORED_SIZE = 128  # stored crop side (pixels): the box is 64 px, a 64-px model's input at 1:1
MARGIN_RANGE = (-0.2, STORED_MARGIN)  # margins a model may ask for (the cut stays inside)


@dataclass(frozen=True)
class CropGeometry:
    """The face crop a CNN takes: a square around the detector box, enlarged by ``margin``
    (fraction of the box's longer side, on each side; negative cuts into the box), resized to
    ``size`` x ``size`` gray pixels. ``flip_average``: average the CNN's outputs over the crop
    and its mirror image (test-time augmentation)."""

    size: int
    margin: float
    flip_average: bool = False

    def __post_init__(self) -> None:
        lo, hi = MARGIN_RANGE
        if not lo <= self.margin <= hi:
            raise UserInputError(
                f"crop margin {self.margin} is outside [{lo}, {hi}]: the frames job stores crops "
                f"with margin {STORED_MARGIN} around the face box"
            )
        if int(self.size) < 8:
            raise UserInputError(f"crop size {self.size} is too small (pixels, at least 8)")

    def to_dict(self) -> dict:
        return {**asdict(self), "square": True}


def write_geometry(path: str | Path, geometry: CropGeometry, **provenance) -> None:
    """Write a model's crop geometry sidecar (JSON: size, margin, flip_average, square, and the
    ``provenance`` keys, e.g. where the margin comes from)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**geometry.to_dict(), **provenance}, indent=2) + "\n")


def read_geometry(path: str | Path) -> CropGeometry:
    """Read a sidecar written by :func:`write_geometry`. Raises UserInputError naming the file
    for a missing, unreadable or incomplete one."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        return CropGeometry(
            size=int(d["size"]),
            margin=float(d["margin"]),
            flip_average=bool(d.get("flip_average", False)),
        )
    except FileNotFoundError:
        raise UserInputError(f"{path}: crop geometry file not found") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserInputError(f"{path}: not a crop geometry file (size, margin): {e}") from None


def stored_crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The wide crop the frames job stores: (STORED_SIZE, STORED_SIZE) gray uint8 around ``box``
    (x, y, w, h full-frame pixels) with margin STORED_MARGIN; edges replicated past the frame.
    ``image``: the gray frame, or the BGR one (then only the crop's patch is converted: the same
    pixels as cropping the gray frame)."""
    return crop_face(image, box, STORED_SIZE, STORED_MARGIN, as_gray=True)


def model_crops(stored: np.ndarray, stored_margin: float, geometry: CropGeometry) -> np.ndarray:
    """Cut ``geometry``'s crop from wide crops: ``stored`` (N, S, S) uint8 crops cut with
    ``stored_margin`` around the box (the frames HDF5's ``faces`` and ``margin``) -> (N, size,
    size) uint8. The box is the central square of side S / (1 + 2 * stored_margin)."""
    n, s = len(stored), stored.shape[-1]
    side = s / (1.0 + 2.0 * stored_margin)
    at = (s - side) / 2.0
    box = (at, at, side, side)
    out = np.empty((n, geometry.size, geometry.size), np.uint8)
    for i in range(n):
        out[i] = crop_face(stored[i], box, geometry.size, geometry.margin)
    return out


def classify(cnn, crops: np.ndarray, geometry: CropGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Run ``cnn`` ((N, S, S) uint8 -> (features (N, D), probabilities (N, C)) float32) on crops
    cut to ``geometry``; with ``flip_average`` on each crop and its mirror image, averaged."""
    f, p = cnn(crops)
    if geometry.flip_average and len(crops):
        ff, pf = cnn(np.ascontiguousarray(crops[:, :, ::-1]))
        f, p = (f + ff) / 2.0, (p + pf) / 2.0
    return np.asarray(f, np.float32), np.asarray(p, np.float32)
