"""Emotion on one photo, one video or a live stream, on the workflow's own parts.

Everything here runs the workflow's own code path, never a copy of it: faces are found by
:func:`~emotiontrack.live.default_detector`, the workflow's default BlazeFace detector
(:meth:`~emotiontrack.faces.BlazeFaceDetector.detect_faces`: every face, not only the
largest), cut as the frames job then the features job cut it (the wide stored crop, then the
model's own geometry: :func:`~emotiontrack.recognise.crops_for`), and classified by
:func:`~emotiontrack.crops.classify`, the step the features job runs, with the CNN
:func:`~emotiontrack.features.load_cnn` loads (a built-in pretrained model by name, or a model
file). A video's timeline is made by the workflow's frames
and features jobs and written by the predictions writer; its chart by the trends step.

- :class:`Recogniser`: detect, crop and classify every face in a BGR image (the CLI's ``image``,
  ``live`` and the web service use it).
- :func:`draw_faces`: boxes, labels, probability bars and frame rate drawn on a frame.
- :func:`run_live`: a camera, file or stream, frame by frame, shown in a window and/or recorded
  with a timeline in the predictions-CSV format; optional causal smoothing (:class:`Smoother`).
- :func:`video_timeline`: one video through the frames and features jobs to the per-frame CNN
  timeline (predictions-CSV format) and the trend chart; nothing is trained.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import UserInputError
from .crops import CropGeometry, classify, read_geometry
from .faces import BlazeFaceDetector, Box, face_finder, to_gray
from .features import load_cnn
from .labels import FER2013_CODES
from .recognise import crops_for

log = logging.getLogger(__name__)

DEFAULT_MODEL = "fer2013-mini-xception"
# The config's default emotion list (FER2013 order), which the built-in model predicts.
DEFAULT_EMOTIONS = [FER2013_CODES[i] for i in range(7)]


class NoFaceError(UserInputError):
    """A video in which no face was found in any sampled frame."""


@dataclass
class Face:
    """One face in an image: ``box`` (x, y, w, h) pixels, ``probabilities`` (C,) float32 in the
    order of the emotion list, ``label`` (most probable emotion) and its probability."""

    box: Box
    probabilities: np.ndarray
    label: str
    confidence: float

    def to_dict(self, emotions: list[str]) -> dict:
        """JSON-ready: box as [x, y, w, h], probabilities as {emotion: p}."""
        return {
            "box": [int(v) for v in self.box],
            "label": self.label,
            "confidence": round(float(self.confidence), 6),
            "probabilities": {
                e: round(float(p), 6) for e, p in zip(emotions, self.probabilities, strict=True)
            },
        }


class Recogniser:
    """Detect, crop and classify every face in an image, as the workflow does for a frame.

    ``model``: a built-in pretrained model name (default ``fer2013-mini-xception``) or a model
    file (the workflow's ``results/models/cnn.keras``, or any file ``cnn.pretrained`` accepts once
    wrapped); ``emotions``: the model's outputs in order (default: the config's default list).
    ``geometry``: the crop the model takes (default: :func:`model_geometry`, the model's own);
    ``detector_model``: the config's ``frames.detector_model`` (see :func:`default_detector`).
    Thread-safe: calls are serialised (the detector and the CNN are shared)."""

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        emotions: list[str] | None = None,
        *,
        geometry: CropGeometry | None = None,
        detector_model: str = "both",
        threads: int = 1,
    ):
        cv2.setNumThreads(max(1, int(threads)))
        self.model = str(model)
        self.emotions = list(emotions or DEFAULT_EMOTIONS)
        self.detector = default_detector(detector_model)
        self.run, self.input_size, _, self.feature_dim, self.engine = _load_model(
            self.model, self.emotions, threads
        )
        self.geometry = geometry or model_geometry(self.model, self.input_size)
        self._lock = threading.Lock()

    def classify(self, gray: np.ndarray, boxes: list[Box]) -> list[Face]:
        """Crop each box from a gray (H, W) uint8 frame as the frames job then the features job
        do (:func:`emotiontrack.recognise.crops_for`) and classify the crops as the features job
        does (:func:`emotiontrack.crops.classify`)."""
        if not boxes:
            return []
        crops = crops_for(gray, boxes, self.geometry)
        with self._lock:
            _, probs = classify(self.run, crops, self.geometry)
        return [self._face(b, p) for b, p in zip(boxes, probs, strict=True)]

    def cnn(self) -> tuple:
        """The loaded CNN in :func:`load_cnn`'s form, its calls serialised with this
        recogniser's (for the features job run inside the web service)."""

        def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with self._lock:
                return self.run(x)

        return run, self.input_size, len(self.emotions), self.feature_dim, self.engine

    def faces(self, image: np.ndarray) -> list[Face]:
        """Every face in a BGR (H, W, 3) or gray (H, W) uint8 image, largest first."""
        gray = to_gray(image)
        with self._lock:  # BGR to the colour detector, as the frames job gives it
            boxes = [f.box for f in self.detector.detect_faces(image)]
        return self.classify(gray, boxes)

    def _face(self, box: Box, probs: np.ndarray) -> Face:
        k = int(np.argmax(probs))
        return Face(tuple(int(v) for v in box), probs, self.emotions[k], float(probs[k]))


def _load_model(model: str, emotions: list[str], threads: int = 1):
    """:func:`load_cnn` for a model name or file, with a clear error for a missing file, one
    Keras cannot load, or an output count that does not match ``emotions``."""
    if model not in _builtin_names() and not Path(model).is_file():
        raise UserInputError(
            f"{model}: model file not found (give a model file or one of the "
            f"built-in models: {', '.join(_builtin_names())})"
        )
    try:
        path = model
        if not model.endswith(".onnx"):
            from .export import cached_onnx

            path = cached_onnx(model, emotions)  # exported once, then cached
        cnn = load_cnn(path, threads)
    except UserInputError:
        raise
    except Exception as e:  # Keras and OpenCV raise many types for a bad file
        raise UserInputError(f"{model}: cannot load as a model ({e})") from None
    if cnn[2] != len(emotions):
        raise UserInputError(
            f"{model}: model has {cnn[2]} outputs but {len(emotions)} emotions were given "
            f"({', '.join(emotions)}); list the model's classes with --emotions"
        )
    return cnn


def model_geometry(model: str, size: int) -> CropGeometry:
    """The crop ``model`` takes: the sidecar the workflow writes beside its model
    (``results/models/cnn_crop.json`` for ``cnn.keras``, ``cnn_pretrained_crop.json`` for
    ``cnn_pretrained.keras``) when there is one, else the pretrained model's own
    (:func:`emotiontrack.pretrained.crop_geometry`); ``size``: the model's input side."""
    from .pretrained import crop_geometry

    sidecar = Path(model).with_name(f"{Path(model).stem}_crop.json")
    if model not in _builtin_names() and sidecar.is_file():
        return read_geometry(sidecar)
    return crop_geometry(model, size)


def default_detector(detector_model: str = "both") -> BlazeFaceDetector:
    """The workflow's default face detector (config ``frames.detector: blazeface``, detecting in
    every frame) with ``detector_model`` (``frames.detector_model``): the frames job's
    "short" range for video and live, where the face is near the camera, and "both" ranges for
    photos, whose faces may be of any size (a group photo). ``detect_faces`` finds every face."""
    return face_finder(detector="blazeface", detector_model=detector_model, track=False)


def _builtin_names() -> list[str]:
    from .pretrained import BUILTIN

    return list(BUILTIN)


def model_sha256(model: str) -> str:
    """The SHA-256 of ``model``'s file (a built-in model's weights file for its name)."""
    from .pretrained import BUILTIN, resolve
    from .video import sha256sum

    return sha256sum(resolve(model) if model in BUILTIN else model)


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------


def read_image(path: str | Path) -> np.ndarray:
    """A photo as BGR uint8; UserInputError naming the file when it is missing or not an image."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{p}: photo not found")
    return decode_image(p.read_bytes(), str(p))


def decode_image(data: bytes, name: str = "upload") -> np.ndarray:
    """Encoded image bytes (JPEG, PNG, ...) -> BGR (H, W, 3) uint8; UserInputError when empty or
    not an image OpenCV can decode."""
    if not data:
        raise UserInputError(f"{name}: empty file (0 bytes)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise UserInputError(f"{name}: not an image (JPEG, PNG, BMP, WebP, TIFF, ... expected)")
    return img


def _palette(n: int) -> list[tuple[int, int, int]]:
    """n distinct BGR colours (evenly spaced hues)."""
    hsv = np.array([[[int(180 * i / max(n, 1)), 200, 255] for i in range(n)]], np.uint8)
    return [tuple(int(c) for c in bgr) for bgr in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]]


def draw_faces(
    image: np.ndarray, faces: list[Face], emotions: list[str], fps: float | None = None
) -> np.ndarray:
    """A copy of BGR ``image`` with each face's box, label and probability, a bar per emotion
    beside the box, and (if given) the frame rate in the top-left corner."""
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    H, W = out.shape[:2]
    colors = _palette(len(emotions))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for f in faces:
        x, y, w, h = f.box
        color = colors[emotions.index(f.label)]
        thick = max(1, round(min(W, H) / 300))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        scale = max(0.4, min(1.2, w / 220))
        text = f"{f.label} {f.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        ty = y - 4 if y - th - base - 4 >= 0 else y + h + th + 4
        cv2.rectangle(out, (x, ty - th - base), (x + tw + 4, ty + base), color, -1)
        cv2.putText(out, text, (x + 2, ty), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
        # bars: right of the box if there is room, else left of it
        row = max(10, min(18, h // len(emotions)))
        bar_w = max(40, min(100, w // 2))
        small = row / 30.0
        label_w = 4 + max(cv2.getTextSize(e, font, small, 1)[0][0] for e in emotions)
        bx = x + w + 6 if x + w + 6 + label_w + bar_w <= W else max(0, x - 6 - label_w - bar_w)
        for i, (e, p) in enumerate(zip(emotions, f.probabilities, strict=True)):
            by = y + i * row
            if by + row > H:
                break
            cv2.putText(out, e, (bx, by + row - 3), font, small, (255, 255, 255), 1, cv2.LINE_AA)
            x0 = bx + label_w
            cv2.rectangle(out, (x0, by + 2), (x0 + bar_w, by + row - 2), (60, 60, 60), -1)
            x1 = x0 + round(bar_w * float(np.clip(p, 0.0, 1.0)))
            cv2.rectangle(out, (x0, by + 2), (x1, by + row - 2), colors[i], -1)
    if fps is not None:
        text = f"{fps:5.1f} fps"
        cv2.rectangle(out, (0, 0), (120, 26), (0, 0, 0), -1)
        cv2.putText(out, text, (6, 19), font, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


# --------------------------------------------------------------------------------------------
# live
# --------------------------------------------------------------------------------------------


@dataclass
class Smoother:
    """Causal smoothing of each face's probabilities over time: an exponential moving average
    with time constant ``tau_s`` seconds (a probability change is ~63% followed after ``tau_s``),
    per face, faces matched from frame to frame by their boxes' overlap (IoU >= ``min_iou``). A
    face unseen for ``forget_s`` starts afresh. Uses only the past: usable live."""

    tau_s: float
    min_iou: float = 0.3
    forget_s: float = 1.0
    _tracks: list[tuple[Box, np.ndarray, float]] = field(default_factory=list)

    def __call__(self, faces: list[Face], t: float, emotions: list[str]) -> list[Face]:
        tracks = [tr for tr in self._tracks if t - tr[2] <= self.forget_s]
        free = list(range(len(tracks)))
        out, kept = [], []
        for f in faces:
            best = max(free, key=lambda j: _iou(f.box, tracks[j][0]), default=None)
            p = f.probabilities
            if best is not None and _iou(f.box, tracks[best][0]) >= self.min_iou:
                free.remove(best)
                _, prev, t0 = tracks[best]
                a = 1.0 - math.exp(-max(t - t0, 0.0) / self.tau_s)
                p = (1.0 - a) * prev + a * p
            kept.append((f.box, p, t))
            k = int(np.argmax(p))
            out.append(Face(f.box, p.astype(np.float32), emotions[k], float(p[k])))
        self._tracks = kept + [tracks[j] for j in free]
        return out


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Source:
    """An opened frame source: ``kind`` camera, file or stream; ``fps`` as the source states it
    (0 if unknown)."""

    cap: cv2.VideoCapture
    kind: str
    name: str
    fps: float


def open_source(source: str | int) -> Source:
    """Open a camera (an OpenCV device index such as ``0``), a video file or a stream URL
    (``rtsp://``, ``http://``, ...). UserInputError with one clear line when it cannot be read."""
    s = str(source)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    if s.isdigit():
        cap = cv2.VideoCapture(int(s))
        if not cap.isOpened() or not cap.grab():
            cap.release()
            raise UserInputError(
                f"camera {s}: no such camera or it cannot be opened (is one connected and free? "
                "give a video file or stream URL with --source instead)"
            )
        kind = "camera"
    elif "://" in s:
        cap = cv2.VideoCapture(s)
        if not cap.isOpened():
            cap.release()
            raise UserInputError(f"{s}: stream cannot be opened (check the URL and the network)")
        kind = "stream"
    else:
        from .video import open_video

        cap, _ = open_video(s)
        kind = "file"
    return Source(cap, kind, s, float(cap.get(cv2.CAP_PROP_FPS) or 0.0))


def has_display() -> bool:
    """Whether a window can be shown: a display is set and OpenCV was built with a GUI (the
    ``opencv-python-headless`` wheel has none)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("emotiontrack-probe", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("emotiontrack-probe")
    except cv2.error:
        return False
    return True


class FrameRate:
    """Frames per second over the last ``n`` frames (wall clock)."""

    def __init__(self, n: int = 30):
        self._t: deque[float] = deque(maxlen=n)

    def tick(self) -> float:
        self._t.append(time.perf_counter())
        if len(self._t) < 2:
            return 0.0
        return (len(self._t) - 1) / max(self._t[-1] - self._t[0], 1e-9)


def run_live(
    recogniser: Recogniser,
    source: str | int = 0,
    *,
    record: str | Path | None = None,
    timeline: str | Path | None = None,
    window: bool = True,
    smooth_s: float = 0.0,
    max_frames: int | None = None,
    on_frame: Callable[[int, list[Face]], None] | None = None,
) -> dict:
    """Recognise emotion frame by frame from a camera, file or stream (:func:`open_source`).

    A file is read frame by frame, every frame, as fast as it can be processed (not paced to its
    frame rate). Each frame gets every face's box, label and probability bars and the frame rate
    (:func:`draw_faces`). ``window``: show it (q quits). ``record``: write the annotated frames
    to this video (mp4v; the source's frame rate, 30 if unknown), every frame processed.
    ``timeline``: write one row per frame in the predictions-CSV format
    (:func:`emotiontrack.formats.write_predictions`): the largest face's probabilities
    (smoothed if ``smooth_s`` > 0; :class:`Smoother`), and its per-frame CNN label beside them;
    ``time_s`` is the frame's time in a file, seconds since the start for a camera or stream.
    Ctrl-C (or q) ends cleanly: both files are flushed and closed. ``max_frames``: stop after
    that many. Returns counts and speed: frames, frames with a face, processing fps (wall), the
    CPU seconds the loop used, and per-frame latency (detect + crop + classify, ms: mean,
    median, 95th percentile).
    """
    from .formats import Features, Predictions, write_predictions

    src = open_source(source)
    emotions = recogniser.emotions
    C = len(emotions)
    smoother = Smoother(smooth_s) if smooth_s > 0 else None
    meter = FrameRate()
    writer = None
    times, found, probs, cnn, lat = [], [], [], [], []
    t_start, cpu_start = time.perf_counter(), time.process_time()
    n = 0
    interrupted = False
    # Ctrl-C ends the loop cleanly after the frame in hand (a flag, not an exception: a frame is
    # never half-recorded, in the video but not the timeline), also when started from a shell or
    # program that ignores SIGINT for its children (a background job of a script).
    stop = []
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
    if window:
        cv2.namedWindow("EmotionTrack", cv2.WINDOW_NORMAL)
    try:
        while (max_frames is None or n < max_frames) and not stop:
            ok, frame = src.cap.read()
            if not ok or frame is None:
                break
            t = n / src.fps if src.kind == "file" and src.fps > 0 else time.perf_counter() - t_start
            t0 = time.perf_counter()
            raw = recogniser.faces(frame)
            lat.append(time.perf_counter() - t0)
            shown = smoother(raw, t, emotions) if smoother else raw
            fps = meter.tick()
            annotated = draw_faces(frame, shown, emotions, fps)
            if record is not None:
                if writer is None:
                    writer = _video_writer(record, annotated.shape, src.fps)
                writer.write(annotated)
            times.append(t)
            found.append(bool(raw))
            probs.append(shown[0].probabilities if shown else np.full(C, np.nan, np.float32))
            cnn.append(raw[0].probabilities if raw else np.full(C, np.nan, np.float32))
            n += 1
            if on_frame is not None:
                on_frame(n, shown)
            if window:
                cv2.imshow("EmotionTrack", annotated)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
    except KeyboardInterrupt:
        stop.append(signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if stop:
            interrupted = True
            log.info("interrupted after %d frames: writing what was recorded", n)
        elapsed = time.perf_counter() - t_start
        cpu = time.process_time() - cpu_start
        src.cap.release()
        if writer is not None:
            writer.release()
        if window:
            cv2.destroyAllWindows()
        if timeline is not None:
            Path(timeline).parent.mkdir(parents=True, exist_ok=True)
            empty = np.zeros((0, C), np.float32)
            data = Features(
                features=np.zeros((n, 0), np.float32),
                probabilities=np.asarray(cnn, np.float32) if n else empty,
                face_found=np.asarray(found, bool),
                timestamps=np.asarray(times, float),
                frame_index=np.arange(n),
                emotions=list(emotions),
            )
            shown_probs = np.asarray(probs, np.float32) if n else empty
            write_predictions(timeline, Predictions.from_probabilities(data, shown_probs))
    ms = np.asarray(lat) * 1000.0
    return {
        "source": src.name,
        "kind": src.kind,
        "frames": n,
        "frames_with_face": int(sum(found)),
        "interrupted": interrupted,
        "seconds": round(elapsed, 3),
        "fps": round(n / elapsed, 2) if elapsed > 0 else 0.0,
        "cpu_s": round(cpu, 3),
        "latency_ms_mean": round(float(ms.mean()), 2) if n else None,
        "latency_ms_median": round(float(np.median(ms)), 2) if n else None,
        "latency_ms_p95": round(float(np.percentile(ms, 95)), 2) if n else None,
    }


def _video_writer(path: str | Path, shape: tuple[int, ...], fps: float) -> cv2.VideoWriter:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
    vw = cv2.VideoWriter(str(path), fourcc, fps if fps > 0 else 30.0, (w, h))
    if not vw.isOpened():
        raise UserInputError(f"{path}: cannot write a video there (mp4v)")
    return vw


# --------------------------------------------------------------------------------------------
# one video
# --------------------------------------------------------------------------------------------


def video_timeline(
    video: str | Path,
    out_dir: str | Path,
    *,
    model: str | Path = DEFAULT_MODEL,
    emotions: list[str] | None = None,
    sample_fps: float = 5.0,
    track: bool = True,
    chart: bool = True,
    cnn=None,
    threads: int = 1,
) -> dict:
    """One video through the workflow's frames and features jobs, nothing trained: writes into
    ``out_dir`` the frames HDF5 (``<stem>_frames.h5``), features HDF5 (``<stem>_features.h5``),
    the per-frame CNN timeline in the predictions-CSV format (``<stem>.csv``: the CNN's
    probabilities, empty where no face) and, if ``chart``, the trend chart and its table
    (``<stem>_trends.png``, ``<stem>_trends.csv``). ``sample_fps`` and ``track``: the config's
    ``frames.fps`` and ``frames.track``. ``cnn``: a :func:`load_cnn` result already in memory
    (the web service's), else ``model`` is loaded. Returns the paths, frame and face counts.
    Raises UserInputError for an unreadable video or one without any face."""

    from .faces import face_finder
    from .features import extract_features
    from .formats import Predictions, read_features, write_predictions
    from .frames import extract_frames

    emotions = list(emotions or DEFAULT_EMOTIONS)
    video, out_dir = Path(video), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = video.stem
    paths = {
        "frames": out_dir / f"{stem}_frames.h5",
        "features": out_dir / f"{stem}_features.h5",
        "timeline": out_dir / f"{stem}.csv",
    }
    cnn = cnn or _load_model(str(model), emotions, threads=threads)
    summary = extract_frames(
        video,
        paths["frames"],
        sample_fps=sample_fps,
        detector=face_finder(track=track),
        threads=threads,
    )
    if summary["n_faces"] == 0:
        raise NoFaceError(
            f"{video}: no face found in any of its {summary['n_frames']} sampled frames"
        )
    geometry = model_geometry(str(model), cnn[1])
    extract_features(
        paths["frames"],
        model,
        paths["features"],
        emotions,
        crop=geometry,
        threads=threads,
        cnn=cnn,
        model_sha256=model_sha256(str(model)),
    )
    data = read_features(paths["features"], emotions)
    cnn_timeline = Predictions.from_probabilities(data, data.probabilities)
    table = write_predictions(paths["timeline"], cnn_timeline)
    if chart:
        from .trends import plot_trends

        paths["chart"] = out_dir / f"{stem}_trends.png"
        paths["trends"] = out_dir / f"{stem}_trends.csv"
        plot_trends(
            paths["timeline"],
            paths["frames"],
            paths["chart"],
            paths["trends"],
            emotions,
            title=video.name,
        )
    return {
        "paths": {k: str(v) for k, v in paths.items()},
        "n_frames": summary["n_frames"],
        "n_faces": summary["n_faces"],
        "table": table,
    }
