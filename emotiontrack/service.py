"""A small HTTP service over the recogniser (Flask), bound to 127.0.0.1 unless told otherwise.

- ``POST /predict``: an image (the request body, or a multipart file field) -> the faces as JSON:
  ``{"faces": [{"box", "label", "confidence", "probabilities"}], "width", "height", "emotions",
  "ms"}``.
- ``POST /timeline``: a short video (same ways) -> its per-frame CNN timeline, made by the
  workflow's frames and features jobs (:func:`emotiontrack.live.video_timeline`), as JSON rows.
- ``GET /health``: model, emotions, limits.
- ``GET /``: a page to upload a photo and see it annotated, and a live view in which the
  browser's camera (``getUserMedia``) sends frames to ``/predict`` one after the other and draws
  the boxes, labels and frame rate over the video.

A bad upload (not an image, empty, too large, a corrupt or too long video, a video with no face)
gets a 4xx JSON ``{"error": "..."}`` naming the problem; any other failure of one request is a
500 JSON answer and the service keeps serving. The detector and the CNN are shared between the
server's threads and their calls serialised.
"""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
import time
from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from . import UserInputError
from .live import NoFaceError, Recogniser, decode_image

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


class _Reject(Exception):
    """A request answered with a 4xx JSON error."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _upload(limit: int, what: str) -> tuple[bytes, str]:
    """The uploaded bytes (a multipart file field, else the raw body) and the file's name.
    Too large: the body is drained (so the client reads the answer) and 413 raised."""
    n = request.content_length
    if n is not None and n > limit + 64 * 1024:  # multipart adds a few hundred bytes
        while request.stream.read(1 << 20):
            pass
        raise _Reject(413, f"{what} too large: {_mb(n)} uploaded, the limit is {_mb(limit)}")
    if request.mimetype == "multipart/form-data":
        f = next(iter(request.files.values()), None)
        data, name = (f.read(), f.filename or what) if f is not None else (b"", what)
    else:  # the raw body, whatever its declared type
        data, name = request.get_data(cache=False), what
    if len(data) > limit:
        raise _Reject(413, f"{what} too large: {_mb(len(data))}, the limit is {_mb(limit)}")
    if not data:
        raise _Reject(400, f"empty upload: no {what} in the request (0 bytes)")
    return data, name


def create_app(
    recogniser: Recogniser,
    *,
    max_image_bytes: int = 10_000_000,
    max_video_bytes: int = 50_000_000,
    max_video_s: float = 120.0,
    sample_fps: float = 5.0,
) -> Flask:
    """The Flask app (see module docstring); limits in bytes and seconds."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    emotions = recogniser.emotions

    @app.errorhandler(_Reject)
    def _rejected(e: _Reject):
        return jsonify(error=str(e)), e.status

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        return jsonify(error=f"{e.name}: {e.description}"), e.code

    @app.errorhandler(Exception)
    def _crash(e: Exception):  # one request failed; the service goes on
        log.exception("request %s %s failed", request.method, request.path)
        return jsonify(error=f"internal error: {type(e).__name__}: {e}"), 500

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/health")
    def health():
        return jsonify(
            status="ok",
            model=recogniser.model,
            engine=recogniser.engine,
            emotions=emotions,
            max_image_bytes=max_image_bytes,
            max_video_bytes=max_video_bytes,
            max_video_s=max_video_s,
        )

    @app.post("/predict")
    def predict():
        data, name = _upload(max_image_bytes, "image")
        try:
            img = decode_image(data, name)
        except UserInputError as e:
            raise _Reject(415 if data else 400, str(e)) from None
        t0 = time.perf_counter()
        faces = recogniser.faces(img)
        return jsonify(
            faces=[f.to_dict(emotions) for f in faces],
            width=int(img.shape[1]),
            height=int(img.shape[0]),
            emotions=emotions,
            ms=round((time.perf_counter() - t0) * 1000.0, 1),
        )

    @app.post("/timeline")
    def timeline():
        from .live import video_timeline
        from .video import open_video

        data, name = _upload(max_video_bytes, "video")
        suffix = Path(name).suffix.lower()
        with tempfile.TemporaryDirectory(prefix="emotiontrack-") as tmp:
            path = Path(tmp) / f"upload{suffix if suffix in VIDEO_SUFFIXES else '.mp4'}"
            path.write_bytes(data)
            try:
                cap, info = open_video(path)
                cap.release()
            except UserInputError as e:  # says which: corrupt, an image, audio only, ...
                raise _Reject(400, f"{name}: {str(e).removeprefix(f'{path}: ')}") from None
            if info.n_frames < 2 or not info.duration_s > 0:
                raise _Reject(
                    400,
                    f"{name}: not a video (a single still image?); POST a photo to /predict",
                )
            if info.duration_s > max_video_s:
                raise _Reject(
                    413,
                    f"{name}: video is {info.duration_s:.1f} s long, the limit is "
                    f"{max_video_s:g} s",
                )
            try:
                out = video_timeline(
                    path,
                    Path(tmp) / "out",
                    model=recogniser.model,
                    emotions=emotions,
                    sample_fps=sample_fps,
                    chart=False,
                    cnn=recogniser.cnn(),
                )
            except NoFaceError:
                raise _Reject(422, f"{name}: no face found in any sampled frame") from None
            except UserInputError as e:
                raise _Reject(400, f"{name}: {str(e).replace(str(path), 'video')}") from None
        table = out["table"]
        rows = []
        for r in table.itertuples(index=False):
            d = r._asdict()
            found = bool(d["face_found"])
            rows.append(
                {
                    "time_s": float(d["time_s"]),
                    "frame_index": int(d["frame_index"]),
                    "face_found": found,
                    "label": d["label"] if found else None,
                    "confidence": round(float(d["cnn_confidence"]), 6) if found else None,
                    "probabilities": {e: round(float(d[e]), 6) for e in emotions}
                    if found
                    else None,
                }
            )
        return jsonify(
            video=name,
            duration_s=round(info.duration_s, 3),
            sample_fps=sample_fps,
            frames=out["n_frames"],
            frames_with_face=out["n_faces"],
            emotions=emotions,
            timeline=rows,
        )

    return app


def serve(
    recogniser: Recogniser,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_image_bytes: int = 10_000_000,
    max_video_bytes: int = 50_000_000,
    max_video_s: float = 120.0,
) -> None:
    """Serve :func:`create_app` with one thread per request until Ctrl-C (SIGINT) or SIGTERM
    (``kill``, ``docker stop``, a scheduler ending the job), after which the requests in progress
    are answered and it returns. Prints ``serving on http://HOST:PORT/`` (the real port when
    ``port`` is 0) once it accepts connections."""
    from werkzeug.serving import make_server

    app = create_app(
        recogniser,
        max_image_bytes=max_image_bytes,
        max_video_bytes=max_video_bytes,
        max_video_s=max_video_s,
    )
    server = make_server(host, port, app, threaded=True)
    stopping: list[int] = []

    def stop(signum, frame) -> None:
        stopping.append(signum)
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
        # shutdown() waits for serve_forever's loop to end: not in the loop's own thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    # Handlers of our own, not Python's KeyboardInterrupt: Python installs that only where SIGINT
    # is not ignored at start-up, and a program or script that starts the service in the
    # background may well ignore it (or block it) for its children.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"serving on http://{host}:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()  # waits for the requests in progress
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopping:
        log.info("stopped by %s", signal.Signals(stopping[0]).name)
