"""Face detection and cropping.

The detector is OpenCV's frontal-face Haar cascade (ships inside ``opencv-python-headless`` 4.x,
works offline). Detection runs on a downscaled grayscale frame (cost falls with the square of the
scale) and the box is mapped back to full-resolution pixels; the crop is cut from the
full-resolution frame, so downscaling costs no crop quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the frame the box refers to


@dataclass
class FaceDetector:
    """Largest-face detector.

    ``detect_width``: frames wider than this are downscaled to it before detection (pixels).
    ``scale_factor``/``min_neighbors``: Haar cascade parameters. ``min_face_frac``: smallest face
    searched for, as a fraction of the frame's shorter side.
    """

    detect_width: int = 320
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_frac: float = 0.12
    cascade: str = "haarcascade_frontalface_default.xml"

    def __post_init__(self) -> None:
        path = cv2.data.haarcascades + self.cascade
        self._clf = cv2.CascadeClassifier(path)
        if self._clf.empty():
            raise RuntimeError(f"could not load Haar cascade {path}")

    def detect(self, gray: np.ndarray) -> Box | None:
        """Return the largest face box in a 2-D uint8 image (full-resolution pixels), or None."""
        h, w = gray.shape[:2]
        scale = min(1.0, self.detect_width / float(w))
        small = (
            gray
            if scale == 1.0
            else cv2.resize(
                gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        )
        side = max(12, int(min(small.shape[:2]) * self.min_face_frac))
        found = self._clf.detectMultiScale(
            small,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        if len(found) == 0:
            return None
        x, y, bw, bh = max(found, key=lambda b: int(b[2]) * int(b[3]))
        inv = 1.0 / scale
        return (round(x * inv), round(y * inv), round(bw * inv), round(bh * inv))


def to_gray(frame: np.ndarray) -> np.ndarray:
    """BGR (H, W, 3) or gray (H, W) uint8 -> gray (H, W) uint8."""
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def crop_face(gray: np.ndarray, box: Box, size: int, margin: float = 0.1) -> np.ndarray:
    """Cut a square crop around ``box`` enlarged by ``margin`` (fraction of the box side) and
    resize it to (size, size) uint8. Parts outside the frame are filled by edge replication."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    s = max(1, round(side))
    H, W = gray.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - W, y0 + s - H)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    patch = gray[y0 : y0 + s, x0 : x0 + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)
