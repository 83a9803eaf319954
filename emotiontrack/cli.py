"""The ``emotiontrack`` command: one photo, one video, a live stream, or a small web service, on
the workflow's own face finder, crop and CNN (:mod:`emotiontrack.live`).

    emotiontrack image PHOTO... [--format json|csv] [--annotate OUT.png]
    emotiontrack video VIDEO [--out DIR]
    emotiontrack live [--source 0|VIDEO|URL] [--record OUT.mp4] [--timeline OUT.csv] [--no-window]
    emotiontrack serve [--host 127.0.0.1] [--port 8000]

A mistake the user can fix (a missing photo, a camera that does not exist, a bad model name)
ends with one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path

from . import UserInputError, __version__

log = logging.getLogger("emotiontrack")


def _model_args(p: argparse.ArgumentParser) -> None:
    from .live import DEFAULT_MODEL

    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="NAME|PATH",
        help=f"built-in pretrained model name or a model file, e.g. the workflow's "
        f"results/models/cnn.keras (default: {DEFAULT_MODEL})",
    )
    p.add_argument(
        "--emotions",
        default=None,
        metavar="A,B,...",
        help="the model's emotions in output order, comma-separated (default: the config's "
        "default, angry,disgust,fear,happy,sad,surprise,neutral); a built-in model may take "
        "any subset",
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1)")
    p.add_argument(
        "--detector-model",
        choices=("short", "full", "both"),
        default=None,
        help="BlazeFace range (config frames.detector_model): short for faces near the camera "
        "(the workflow's default), full for small faces, both for any size (default: both for "
        "photos and the service, short for video and live)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def _emotions(args) -> list[str] | None:
    if not args.emotions:
        return None
    names = [e.strip() for e in args.emotions.split(",") if e.strip()]
    if not names:
        raise UserInputError("--emotions: give at least one emotion name")
    return names


def _recogniser(args):
    from .live import Recogniser

    photos = args.command in ("image", "serve")
    model = args.detector_model or ("both" if photos else "short")
    return Recogniser(args.model, _emotions(args), threads=args.threads, detector_model=model)


def parser() -> argparse.ArgumentParser:
    """The command line (``emotiontrack --help``, ``emotiontrack COMMAND --help``)."""
    top = argparse.ArgumentParser(
        prog="emotiontrack",
        description="Facial emotion on one photo, one video, a live camera/stream, or over "
        "HTTP, with EmotionTrack's face finder, crop and CNN. The batch workflow for a whole "
        "study is Snakemake (see README).",
    )
    top.add_argument("--version", action="version", version=f"emotiontrack {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "image",
        help="every face in one or more photos: box, probabilities, label",
        description="Find every face in each photo (not only the largest) and classify it. "
        "Prints one record per face (JSON list of photos, or CSV rows).",
    )
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="image file(s): JPEG, PNG, ...")
    p.add_argument("--format", choices=("json", "csv"), default="json", help="output format")
    p.add_argument(
        "--annotate",
        metavar="OUT.png",
        help="write the photo with boxes, labels and probability bars; with several photos, "
        "a folder that gets one <photo name>.png each",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the records here, not stdout")
    _model_args(p)

    p = sub.add_parser(
        "video",
        help="one video's per-frame CNN timeline and trend chart (trains nothing)",
        description="Run the workflow's frames and features jobs on one video and write the "
        "per-frame CNN timeline (predictions-CSV format: <name>.csv), the trend chart "
        "(<name>_trends.png, <name>_trends.csv) and the frames/features HDF5 files into DIR.",
    )
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--out", default="emotiontrack-out", metavar="DIR", help="output folder")
    p.add_argument(
        "--fps", type=float, default=5.0, help="frames sampled per second (config frames.fps)"
    )
    p.add_argument(
        "--no-track",
        action="store_true",
        help="detect the face in every sampled frame instead of tracking it "
        "(config frames.track: false)",
    )
    _model_args(p)

    p = sub.add_parser(
        "live",
        help="live emotion from a camera, a video file or a stream",
        description="Read a camera (OpenCV index), a video file (every frame, as fast as it "
        "can be processed) or a stream URL; draw each face's box, label and probability bars "
        "and the frame rate. With a display it opens a window (q quits); with none, or with "
        "--no-window, it writes the annotated video and the timeline (default "
        "emotiontrack-live.mp4 / .csv). Ctrl-C ends cleanly and flushes both files.",
    )
    p.add_argument(
        "--source", default="0", metavar="0|VIDEO|URL", help="camera index, file or stream"
    )
    p.add_argument("--record", metavar="OUT.mp4", help="write the annotated frames here")
    p.add_argument(
        "--timeline",
        metavar="OUT.csv",
        help="write one row per frame (predictions-CSV format; the largest face)",
    )
    p.add_argument("--no-window", action="store_true", help="never open a window")
    p.add_argument(
        "--smooth",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="causal smoothing time constant per face (0: off, default)",
    )
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    _model_args(p)

    p = sub.add_parser(
        "serve",
        help="HTTP service: POST /predict, POST /timeline, GET /health, a page at /",
        description="Serve the recogniser over HTTP (Flask). POST /predict (an image) -> the "
        "faces as JSON; POST /timeline (a short video) -> its CNN timeline; GET /health; a "
        "page at / to upload a photo or run the browser's camera live.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one; default 8000)")
    p.add_argument("--max-image-mb", type=float, default=10.0, help="largest image upload")
    p.add_argument("--max-video-mb", type=float, default=50.0, help="largest video upload")
    p.add_argument("--max-video-s", type=float, default=120.0, help="longest video, seconds")
    _model_args(p)
    return top


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return {"image": _image, "video": _video, "live": _live, "serve": _serve}[args.command](
            args
        )
    except UserInputError as e:
        print(f"emotiontrack {args.command}: error: {e}", file=sys.stderr)
        return 1


def _image(args) -> int:
    from .live import draw_faces, read_image

    images = [(p, read_image(p)) for p in args.photos]  # every photo is readable before loading
    rec = _recogniser(args)
    records = []
    for path, img in images:
        faces = rec.faces(img)
        records.append(
            {
                "image": str(path),
                "width": int(img.shape[1]),
                "height": int(img.shape[0]),
                "faces": [f.to_dict(rec.emotions) for f in faces],
            }
        )
        if args.annotate:
            out = Path(args.annotate)
            if len(images) > 1:
                out = out / f"{Path(path).stem}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            if not _imwrite(out, draw_faces(img, faces, rec.emotions)):
                raise UserInputError(f"{out}: cannot write the annotated image there")
    fh = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        if args.format == "json":
            json.dump(records, fh, indent=2)
            fh.write("\n")
        else:
            w = csv.writer(fh)
            w.writerow(["image", "face", "x", "y", "w", "h", "label", "confidence", *rec.emotions])
            for r in records:
                for i, f in enumerate(r["faces"]):
                    probs = [f"{f['probabilities'][e]:.6f}" for e in rec.emotions]
                    w.writerow(
                        [r["image"], i, *f["box"], f["label"], f"{f['confidence']:.6f}", *probs]
                    )
    finally:
        if args.output:
            fh.close()
    return 0


def _imwrite(path: Path, img) -> bool:
    import cv2

    return bool(cv2.imwrite(str(path), img))


def _video(args) -> int:
    from .live import video_timeline

    out = video_timeline(
        args.video,
        args.out,
        model=args.model,
        emotions=_emotions(args),
        sample_fps=args.fps,
        track=not args.no_track,
        threads=args.threads,
    )
    table = out["table"]
    print(
        json.dumps(
            {
                "video": args.video,
                "sampled_frames": out["n_frames"],
                "frames_with_face": out["n_faces"],
                "label_counts": table.loc[table["cnn_label"] != "", "cnn_label"]
                .value_counts()
                .to_dict(),
                "files": out["paths"],
            },
            indent=2,
        )
    )
    return 0


def _live(args) -> int:
    from .live import has_display, open_source, run_live

    open_source(args.source).cap.release()  # a missing camera fails before the model loads
    window = not args.no_window and has_display()
    record, timeline = args.record, args.timeline
    if not window:
        if not args.no_window:
            why = (
                "this OpenCV has no GUI (opencv-python-headless)"
                if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                else "no display"
            )
            log.warning(
                "%s: writing the annotated video and the timeline instead of a window "
                "(emotiontrack serve shows the live view in a browser)",
                why,
            )
        record = record or "emotiontrack-live.mp4"
        timeline = timeline or "emotiontrack-live.csv"
    rec = _recogniser(args)
    stats = run_live(
        rec,
        args.source,
        record=record,
        timeline=timeline,
        window=window,
        smooth_s=args.smooth,
        max_frames=args.max_frames,
    )
    stats.update({"record": record, "timeline": timeline})
    print(json.dumps(stats, indent=2))
    return 0


def _serve(args) -> int:
    from .service import serve

    serve(
        _recogniser(args),
        host=args.host,
        port=args.port,
        max_image_bytes=int(args.max_image_mb * 1e6),
        max_video_bytes=int(args.max_video_mb * 1e6),
        max_video_s=args.max_video_s,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
