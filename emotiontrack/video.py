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


# What a file's first bytes say it is, for the files people mistake for videos.
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
_AUDIO_MAGIC = {b"ID3": "MP3", b"fLaC": "FLAC", b"\xff\xfb": "MP3", b"\xff\xf3": "MP3"}


def _sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, format) of a file that is certainly not a video: ('image', 'PNG'), ('audio', 'WAV');
    None when it may be one."""
    for magic, fmt in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return "image", fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio", "AIFF"
    for magic, fmt in _AUDIO_MAGIC.items():
        if head.startswith(magic):
            return "audio", fmt
    return None


def _iso_tracks(path: Path, limit: int = 1 << 26) -> set[str] | None:
    """Track kinds ('vide', 'soun', ...) of an MP4/MOV (ISO base media) file from the handler
    boxes of its ``moov`` box, found by walking the top-level box headers (the media data is
    skipped, never read: memory does not grow with the video); None if it is not such a file or
    has no ``moov`` (truncated?), and OpenCV will then say whether it can open it. At most
    ``limit`` bytes of the ``moov`` box are read."""
    total = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(8)[4:8] not in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
            return None
        at = 0
        while at + 8 <= total:
            fh.seek(at)
            head = fh.read(16)
            size, kind, header = int.from_bytes(head[:4], "big"), head[4:8], 8
            if size == 1 and len(head) == 16:  # 64-bit size
                size, header = int.from_bytes(head[8:16], "big"), 16
            elif size == 0:  # the last box, to the end of the file
                size = total - at
            if size < header:  # not a box: a damaged file
                return None
            if kind == b"moov":
                moov = head + fh.read(min(size, limit) - len(head))
                break
            at += size
        else:
            return None
    kinds = set()
    found = moov.find(b"hdlr")
    while found >= 0:
        kinds.add(moov[found + 12 : found + 16].decode("latin-1"))
        found = moov.find(b"hdlr", found + 4)
    return kinds


def check_video_file(path: str | Path) -> Path:
    """Raise UserInputError naming ``path`` if it is missing, a directory, empty, an image, an
    audio file, or an MP4/MOV without a video track; return it as a Path otherwise. Reads only
    the file's first bytes (and an MP4's box headers)."""
    p = Path(path)
    if p.is_dir():
        raise UserInputError(f"{p}: is a directory, not a video file; give the video's own path")
    if not p.is_file():
        raise UserInputError(f"{p}: video file not found")
    if p.stat().st_size == 0:
        raise UserInputError(f"{p}: video file is empty (0 bytes)")
    with open(p, "rb") as fh:
        head = fh.read(64)
    kind = _sniff(head)
    if kind and kind[0] == "image":
        raise UserInputError(
            f"{p}: is a {kind[1]} image, not a video (renamed?); give the recording itself"
        )
    if kind and kind[0] == "audio":
        raise UserInputError(
            f"{p}: is a {kind[1]} audio file with no picture; give the video recording"
        )
    tracks = _iso_tracks(p)
    if tracks is not None and "vide" not in tracks:
        what = "only an audio track" if "soun" in tracks else "no video track"
        raise UserInputError(
            f"{p}: the MP4/MOV container has {what}; export the recording with its video"
        )
    return p


def open_video(path: str | Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open a video for reading; raise UserInputError naming the file if it is missing, a
    directory, empty, the wrong kind of file (:func:`check_video_file`) or not decodable."""
    p = check_video_file(path)
    cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise UserInputError(
            f"{p}: not a readable video (OpenCV could not open it: corrupt, truncated, or a "
            "container without a video stream?)"
        )
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    n = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0
    info = VideoInfo(
        path=str(p),
        fps=fps,
        n_frames=int(n) if 0 <= n < 2**62 else 0,
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
    )
    if fps > 0 and info.n_frames > 0 and not (info.width > 0 and info.height > 0):
        cap.release()
        raise UserInputError(
            f"{p}: a video of zero decodable frames ({info.n_frames} frames listed at {fps:g} "
            "fps, but the stream's header does not decode: damaged recording)"
        )
    if not (fps > 0 and info.width > 0 and info.height > 0):
        cap.release()
        raise UserInputError(
            f"{p}: not a readable video: no video stream with a frame rate and a size "
            f"(fps={fps:g}, size={info.width}x{info.height})"
        )
    return cap, info


def probe_video(path: str | Path) -> VideoInfo:
    """What the container says about a video (fps, frame count, size; duration), after checking
    that its first frame decodes: cheap (one frame), for checks before any job runs. Raises
    UserInputError for a file that is not a usable video, naming it and the problem."""
    cap, info = open_video(path)
    try:
        if not cap.grab():
            raise UserInputError(
                f"{info.path}: a video of zero decodable frames (the container opens but no "
                "frame decodes: truncated or empty recording)"
            )
    finally:
        cap.release()
    return info


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
            raise UserInputError(
                f"{info.path}: a video of zero decodable frames (corrupt or empty recording)"
            )

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
