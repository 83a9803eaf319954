"""Face detection and cropping.

The detector is OpenCV's frontal-face Haar cascade (ships inside ``opencv-python-headless`` 4.x,
works offline). Detection runs on a downscaled grayscale frame (cost falls with the square of the
scale) and the box is mapped back to full-resolution pixels; the crop is cut from the
full-resolution frame, so downscaling costs no crop quality.

Two ways to find the face in a stream of sampled frames, same interface (``track``):
:class:`FaceDetector` detects in every whole frame (the reference); :class:`FaceTracker` searches
around the face's last position and detects in the whole frame only when that fails or
periodically (several times cheaper per frame, finds the face in at least as many frames; the
benchmark and ``tests/test_tracking.py`` measure both).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the frame the box refers to
T = TypeVar("T")


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

    def describe(self) -> str:
        """Provenance string recorded with the frames (cascade and its parameters)."""
        return (
            f"opencv-haar:{self.cascade}:w{self.detect_width}:"
            f"sf{self.scale_factor}:mn{self.min_neighbors}"
        )

    def track(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[tuple[T, Box | None]]:
        """Full detection in every frame. ``frames``: (key, gray (H, W) uint8) in time order;
        yields (key, largest face box or None) in the same order."""
        for key, gray in frames:
            yield key, self.detect(gray)

    def detect(self, gray: np.ndarray, min_side: int | None = None) -> Box | None:
        """Return the largest face box in a 2-D uint8 image (full-resolution pixels), or None.
        ``min_side`` (full-resolution pixels) skips faces smaller than that: a cheap search for
        a face larger than one already known."""
        small, scale, side = self._prepared(gray)
        if min_side is not None:
            side = max(side, int(min_side * scale))
            if side > min(small.shape[:2]):
                return None
        return _scaled(self._largest(small, side, None), 1.0 / scale, 0, 0)

    def detect_all(self, gray: np.ndarray) -> list[Box]:
        """Every face in a 2-D uint8 image (full-resolution pixels), largest first; the same
        downscale, cascade and smallest face as :meth:`detect`, whose box is the first one."""
        small, scale, side = self._prepared(gray)
        found = self._faces(small, side, None)
        order = sorted(range(len(found)), key=lambda i: -int(found[i][2]) * int(found[i][3]))
        return [_scaled(found[i], 1.0 / scale, 0, 0) for i in order]

    def _prepared(self, gray: np.ndarray) -> tuple[np.ndarray, float, int]:
        """The image detection runs on (downscaled to ``detect_width``), its scale, and the
        smallest face side searched for there (pixels)."""
        h, w = gray.shape[:2]
        scale = min(1.0, self.detect_width / float(w))
        small = (
            gray
            if scale == 1.0
            else cv2.resize(
                gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        )
        return small, scale, max(12, int(min(small.shape[:2]) * self.min_face_frac))

    def detect_near(
        self,
        gray: np.ndarray,
        box: Box,
        *,
        scale: float,
        size: float | None = None,
        margin: float = 0.25,
        size_range: float = 1.15,
    ) -> Box | None:
        """Search for the face only around ``box`` (where it was a moment ago): the box grown by
        ``margin`` of its side on each side, resized by ``scale`` (never finer than full
        detection), for faces ``size_range`` times smaller to ``size_range`` times larger than
        the box. Same cascade and ``min_neighbors`` as :meth:`detect`. Returns the largest face
        found there (full-resolution pixels) or None."""
        x, y, bw, bh = box
        H, W = gray.shape[:2]
        side = max(bw, bh)
        x0, y0 = max(0, int(x - margin * side)), max(0, int(y - margin * side))
        x1, y1 = min(W, int(x + bw + margin * side)), min(H, int(y + bh + margin * side))
        if x1 - x0 < side or y1 - y0 < side:  # the face would not fit: it is leaving the frame
            return None
        scale = min(scale, self.detect_width / float(W), 1.0)
        small = cv2.resize(
            gray[y0:y1, x0:x1],
            (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))),
            interpolation=cv2.INTER_AREA,
        )
        size = side if size is None else size
        lo = max(12, int(size * scale / size_range))
        hi = round(size * scale * size_range)
        return _scaled(self._largest(small, lo, hi), 1.0 / scale, x0, y0)

    def _faces(self, img: np.ndarray, min_side: int, max_side: int | None):
        return self._clf.detectMultiScale(
            img,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            maxSize=(max_side, max_side) if max_side else (0, 0),
        )

    def _largest(self, img: np.ndarray, min_side: int, max_side: int | None):
        found = self._faces(img, min_side, max_side)
        if len(found) == 0:
            return None
        return max(found, key=lambda b: int(b[2]) * int(b[3]))


@dataclass
class FaceTracker:
    """Follows the largest face from one sampled frame to the next at a fraction of the cost of
    detecting it in every whole frame, finding it in at least as many frames.

    With a face in the previous sampled frame: search only around its box
    (:meth:`FaceDetector.detect_near`, ``margin``, ``size_range``), in an image resized so that
    the face, as full detection last measured it, is ``face_px`` pixels wide. The resize is fixed
    at each full detection and kept while tracking: deriving it from every tracked box would let
    the box size drift (the cascade's scale grid feeds back into it). If the face is not there,
    detect in the whole frame. Every ``refresh_every`` samples also search the whole frame for a
    face at least 0.9 times as large (cheap: the small scales, which cost most, are skipped) and
    keep the larger, so a larger face that enters is taken as full detection would take it.

    Without a face in the previous frame: full detection on every ``lost_every``-th sample only;
    when it finds a face, the frames held back in between are searched around it, newest first
    (backfill), so a returning face is found from the frame it returned in. At most
    ``lost_every - 1`` gray frames are held. ``lost_every=1``: full detection in every frame
    without a tracked face.
    """

    detector: FaceDetector = field(default_factory=FaceDetector)
    margin: float = 0.25
    face_px: int = 48
    size_range: float = 1.15
    refresh_every: int = 50
    lost_every: int = 3

    def describe(self) -> str:
        """Provenance string recorded with the frames (detector and tracking parameters)."""
        return (
            f"{self.detector.describe()}:track(margin={self.margin},face_px={self.face_px},"
            f"size_range={self.size_range},refresh_every={self.refresh_every},"
            f"lost_every={self.lost_every})"
        )

    def _anchor(self, box: Box | None, width: int) -> Box | None:
        """A box from full detection: fix the tracking resize from its size, as a whole number
        of cascade scale steps below the full-detection resize (so that both see the face on
        the same grid of window sizes and give boxes of the same size)."""
        if box is not None:
            det = self.detector
            full = min(1.0, det.detect_width / float(width))
            steps = math.log(max(box[2], box[3]) * full / self.face_px) / math.log(det.scale_factor)
            self._scale = full / det.scale_factor ** max(0, round(steps))
            self._size = float(max(box[2], box[3]))
        return box

    def _near(self, gray: np.ndarray, box: Box) -> Box | None:
        return self.detector.detect_near(
            gray,
            box,
            scale=self._scale,
            size=self._size,
            margin=self.margin,
            size_range=self.size_range,
        )

    def track(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[tuple[T, Box | None]]:
        """``frames``: (key, gray (H, W) uint8) in time order. Yields (key, box or None) for
        every frame, in the same order (held frames once they are resolved)."""
        box: Box | None = None  # the face in the last resolved frame
        since_full = 0
        held: list[tuple[T, np.ndarray]] = []
        for key, gray in frames:
            if box is not None and not held:
                found = self._near(gray, box)
                if found is not None:
                    since_full += 1
                    if self.refresh_every and since_full >= self.refresh_every:
                        larger = self.detector.detect(gray, min_side=int(0.9 * max(found[2:])))
                        if larger is not None and larger[2] * larger[3] >= found[2] * found[3]:
                            found = self._anchor(larger, gray.shape[1])
                        since_full = 0
                    box = found
                    yield key, box
                    continue
            held.append((key, gray))
            if len(held) >= self.lost_every:
                last = self._anchor(self.detector.detect(gray), gray.shape[1])
                yield from self._resolve(held, box, last)
                box, held, since_full = last, [], 0
        if held:  # the video ended while looking for the face
            g = held[-1][1]
            yield from self._resolve(held, box, self._anchor(self.detector.detect(g), g.shape[1]))

    def _careful(self, gray: np.ndarray, box: Box) -> Box | None:
        """The search around ``box`` at full-detection resolution with twice the margin and size
        range: for frames where a face is expected (next to one) but the quick search missed."""
        return self.detector.detect_near(
            gray,
            box,
            scale=1.0,  # capped at the full-detection resize
            size=self._size,
            margin=2 * self.margin,
            size_range=self.size_range**2,
        )

    def _resolve(
        self, held: list[tuple[T, np.ndarray]], before: Box | None, last: Box | None
    ) -> Iterator[tuple[T, Box | None]]:
        """Boxes for held frames, the last of which got ``last`` from full detection (``before``:
        the face in the frame before them, if any). Backward from ``last`` and forward from
        ``before``, the frames next to a face are searched around it (quick search, then the
        careful one) for as long as it keeps being found."""
        boxes: list[Box | None] = [None] * len(held)
        boxes[-1] = back = last
        for i in range(len(held) - 2, -1, -1):
            if back is None:
                break
            gray = held[i][1]
            boxes[i] = back = self._near(gray, back) or self._careful(gray, back)
        fwd = before
        for i in range(len(held) - 1):
            if boxes[i] is not None or fwd is None:
                break
            boxes[i] = fwd = self._careful(held[i][1], fwd)
        for (key, _), b in zip(held, boxes, strict=True):
            yield key, b


def _scaled(box, inv: float, x0: int, y0: int) -> Box | None:
    """A detection in a scaled (sub-)image -> (x, y, w, h) in full-resolution pixels."""
    if box is None:
        return None
    x, y, w, h = box
    return (x0 + round(x * inv), y0 + round(y * inv), round(w * inv), round(h * inv))


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


def face_finder(
    *,
    detect_width: int = 320,
    min_neighbors: int = 5,
    track: bool = True,
    track_face_px: int = 48,
    track_margin: float = 0.25,
    track_size_range: float = 1.15,
    track_refresh_every: int = 50,
    track_lost_every: int = 3,
) -> FaceDetector | FaceTracker:
    """The face finder the config's ``frames`` section describes (same key names): a
    :class:`FaceTracker` when ``track``, else full detection in every frame."""
    detector = FaceDetector(detect_width=detect_width, min_neighbors=min_neighbors)
    if not track:
        return detector
    return FaceTracker(
        detector,
        margin=track_margin,
        face_px=track_face_px,
        size_range=track_size_range,
        refresh_every=track_refresh_every,
        lost_every=track_lost_every,
    )
