"""Per-session face frames: sample a video, detect and crop the face, store one HDF5 per session.

The crop stored is the wide one of :func:`emotiontrack.crops.stored_crop` (twice the face box's
side), independent of the CNN: each CNN's own crop is cut from it in the features job.

Frames without a detectable face are kept as flagged gaps (``face_found`` False, an all-zero crop,
box -1), never dropped, so every later stage stays aligned to the video's time axis. Crops are
appended to resizable HDF5 datasets in blocks, so memory does not grow with video length.

The face is found by the finder given: a detector (:class:`~emotiontrack.faces.BlazeFaceDetector`,
the default, or :class:`~emotiontrack.faces.FaceDetector`, the Haar cascade) detecting in every
sampled frame, or a :class:`~emotiontrack.faces.FaceTracker` around one (search around the last
face, full detection when that fails). The detector's key points (BlazeFace: eyes, nose tip,
mouth, ears) are stored per sampled frame, and optionally MediaPipe's 468-point face mesh. With
``threads > 1`` decoding runs in a thread of its own, overlapping detection (OpenCV releases the
GIL in both).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from .blazeface import KEYPOINTS, MESH_FILE, MESH_POINTS, FaceMesh
from .crops import STORED_MARGIN, STORED_SIZE, stored_crop
from .faces import BlazeFaceDetector, FaceDetector, FaceTracker, SkipTracker, face_finder, to_gray
from .formats import FPS, FramesWriter, open_faces, read_frames
from .logs import progress
from .video import prefetch, sample_frames, sha256sum

log = logging.getLogger(__name__)


def extract_frames(
    video: str | Path,
    out_h5: str | Path,
    *,
    sample_fps: float = 5.0,
    detector: FaceDetector | BlazeFaceDetector | FaceTracker | SkipTracker | None = None,
    mesh: bool = False,
    block: int = 256,
    threads: int = 1,
) -> dict:
    """Sample ``video`` at ``sample_fps`` (or every frame of a slower video; attribute
    ``fps`` is the rate really sampled), find the largest face per sampled frame and write
    ``out_h5`` with datasets ``faces`` (T, S, S) uint8, the wide crops of
    :func:`emotiontrack.crops.stored_crop` (S = ``crop_size`` attribute, cut with the ``margin``
    attribute around the box; each CNN's own crop is cut from them later), ``timestamps`` (T,)
    seconds, ``frame_index`` (T,) int64, ``boxes`` (T, 4) int32 x,y,w,h in video pixels (-1 if
    none), ``face_found`` (T,) bool, ``keypoints`` (T, 6, 2) float32 x, y video pixels of the
    detector's key points (attribute ``keypoint_names``; NaN without a face or for a detector
    without key points) and, with ``mesh``, ``mesh`` (T, 468, 3) float32 (MediaPipe's face mesh
    on the face box: x, y video pixels, z depth on the same scale; NaN without a face);
    attributes record the source path, its SHA-256, fps, detector and the crop's size and margin.
    ``detector``: how the face is found (default: :func:`~emotiontrack.faces.face_finder`'s, the
    config's default);
    ``threads``: OpenCV threads, and > 1 also decodes in a thread of its own.
    Returns a summary dict (n_frames, n_faces, detection_rate)."""
    cv2.setNumThreads(max(1, int(threads)))
    detector = detector or face_finder()
    info, frames = sample_frames(video, sample_fps)
    # ((index, time, image), image) per sampled frame: the key carries the frame through the
    # finder (which may hold a few frames back) to the crop. BlazeFace, a colour model, is given
    # the BGR frame (as the CLI and the service give it a photo: the same face, the same box),
    # and only the crop's patch is converted to gray (a tenth of the frame's pixels); the Haar
    # cascade works on gray, and BGR is then dropped once converted.
    finder = detector.detector if isinstance(detector, SkipTracker) else detector
    colour = isinstance(finder, BlazeFaceDetector)
    grays = (
        ((idx, t, image), image)
        for idx, t, frame in frames
        for image in (frame if colour else to_gray(frame),)
    )
    if threads > 1:
        grays = prefetch(grays, depth=16)
    expected = int(info.duration_s * sample_fps) + 1
    crop_size = STORED_SIZE
    blank = np.zeros((crop_size, crop_size), np.uint8)
    no_points = np.full((len(KEYPOINTS), 2), np.nan, np.float32)
    no_mesh = np.full((MESH_POINTS, 3), np.nan, np.float32)
    mesher = FaceMesh() if mesh else None
    n = found = 0
    with FramesWriter(
        out_h5,
        crop_size=crop_size,
        keypoints=len(KEYPOINTS),
        mesh_points=MESH_POINTS if mesher else 0,
        block=block,
    ) as rows:
        located = detector.track_faces(grays)
        for (idx, t, image), face in progress(located, expected, "frames"):
            box = None if face is None else face.box
            row = {}
            if mesher is not None:
                row["mesh"] = (
                    no_mesh if face is None else mesher(to_gray(image), box, face.keypoints)
                )
            rows.add(
                faces=blank if box is None else stored_crop(image, box),
                timestamps=t,
                frame_index=idx,
                boxes=(-1, -1, -1, -1) if box is None else box,
                face_found=box is not None,
                keypoints=no_points if face is None else face.keypoints,
                **row,
            )
            n += 1
            found += box is not None
        rows.close(
            {
                "source": str(video),
                "source_sha256": sha256sum(video),
                "fps_video": info.fps,
                # the real sampling rate: every frame is taken from a video slower than asked
                FPS: float(min(sample_fps, info.fps)),
                "n_frames_video": info.n_frames,
                "width": info.width,
                "height": info.height,
                "crop_size": crop_size,
                "margin": STORED_MARGIN,
                "detector": detector.describe(),
            },
            {
                "keypoints": {"keypoint_names": list(KEYPOINTS)},
                **({"mesh": {"model": MESH_FILE}} if mesher else {}),
            },
        )
    rate = found / n if n else 0.0
    if found == 0:
        log.warning("%s: no face detected in any of %d sampled frames", video, n)
    log.info("%s: %d sampled frames, face found in %d (%.1f%%)", video, n, found, 100 * rate)
    return {"n_frames": n, "n_faces": found, "detection_rate": rate}


def contact_sheet(frames_h5: str | Path, out_png: str | Path, n: int = 24, cols: int = 8) -> None:
    """Write a PNG grid of ``n`` evenly spaced sampled frames' crops with their time (s); frames
    without a face are shown as a crossed grey tile so gaps are visible."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fr = read_frames(frames_h5, faces=False)
    T = len(fr.face_found)
    idx = np.unique(np.linspace(0, max(T - 1, 0), num=min(n, T)).astype(int)) if T else []
    with open_faces(frames_h5) as faces:
        tiles = [(faces[i], float(fr.timestamps[i]), bool(fr.face_found[i])) for i in idx]
    title = Path(str(fr.attrs.get("source", frames_h5))).name
    rows = max(1, -(-len(tiles) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.4, rows * 1.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (img, t, ok) in zip(axes.flat, tiles, strict=False):
        if ok:
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(np.full((8, 8), 200, np.uint8), cmap="gray", vmin=0, vmax=255)
            ax.plot([0, 7], [0, 7], "r-", [0, 7], [7, 0], "r-", lw=1)
        ax.set_title(f"{t:.1f} s" + ("" if ok else " no face"), fontsize=7)
    fig.suptitle(f"{title}: {len(tiles)} of {T} sampled frames", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
