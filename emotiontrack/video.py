"""Streaming video decoding with time-based sampling.

Every frame is ``grab()``-ed (cheap, keeps decoding in order) but only sampled frames are
``retrieve()``-d (the costly colour conversion), so memory and per-frame work stay flat in
video length.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from . import UserInputError

T = TypeVar("T")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video: frames per second, frame count, size in pixels."""

    path: str
    fps: float
    n_frames: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else 0.0


def sha256sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def open_video(path: str | Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open a video for reading; raise UserInputError naming the file if it is missing, empty or
    not a decodable video."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{p}: video file not found")
    if p.stat().st_size == 0:
        raise UserInputError(f"{p}: video file is empty (0 bytes)")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise UserInputError(
            f"{p}: not a readable video (OpenCV could not open it; corrupt or not a video?)"
        )
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    info = VideoInfo(
        path=str(p),
        fps=fps,
        n_frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
    )
    if not (fps > 0 and info.width > 0 and info.height > 0):
        cap.release()
        raise UserInputError(
            f"{p}: not a readable video (fps={fps}, size={info.width}x{info.height})"
        )
    return cap, info


def sample_frames(
    path: str | Path, sample_fps: float
) -> tuple[VideoInfo, Iterator[tuple[int, float, np.ndarray]]]:
    """Open ``path`` and return its info and a generator of (frame_index, time_s, BGR frame) for
    frames sampled at ``sample_fps`` (a frame is taken when its time reaches the next sample time;
    with a video slower than ``sample_fps`` every frame is taken). Raises UserInputError if the
    video yields no frame at all."""
    cap, info = open_video(path)

    def frames() -> Iterator[tuple[int, float, np.ndarray]]:
        step = 1.0 / sample_fps
        next_t = 0.0
        idx = 0
        taken = 0
        try:
            while cap.grab():
                t = idx / info.fps
                if t + 1e-9 >= next_t:
                    ok, frame = cap.retrieve()
                    if ok and frame is not None:
                        taken += 1
                        yield idx, t, frame
                    next_t += step
                    while next_t <= t:  # never fall behind by more than one sample
                        next_t += step
                idx += 1
        finally:
            cap.release()
        if taken == 0:
            raise UserInputError(f"{info.path}: no frame could be decoded (corrupt or empty video)")

    return info, frames()


def prefetch(items: Iterator[T], depth: int = 16) -> Iterator[T]:
    """Run ``items`` in a background thread, ``depth`` items ahead of the consumer (memory stays
    bounded), and yield them in order; an exception in the producer is raised in the consumer.
    Worth it when producing and consuming both release the GIL (OpenCV decoding, detection)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((None, done))
        except BaseException as e:  # handed to the consumer
            q.put((e, None))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            err, item = q.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
