"""The FER2013-format training CSV: synthetic 48x48 gray faces, each a new random person, cropped
the way the video pipeline crops.

The crops are cut the way the video pipeline finds faces (``face_finder(track=False)
.detect(gray)``, the default detector) with margin 0.1 (``crop_face(gray, box, 48, margin=0.1)``),
the geometry the CNN trained on the CSV records (config ``fer.crop_margin``: 0.1) and is fed from
the videos, so it sees the same kind of crop."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np

from emotiontrack.demo.drawing import _apply_blur, _light
from emotiontrack.demo.expressions import _PARAMS, EMOTIONS, _emotion_weights, _params_for
from emotiontrack.demo.face import _internal_scale, _place, _render_head
from emotiontrack.demo.identities import _random_identity, _stable_seed
from emotiontrack.demo.scene import _NECK, _draw_body, _make_background
from emotiontrack.faces import BlazeFaceDetector, FaceDetector, crop_face, face_finder, to_gray
from emotiontrack.labels import FER2013_CODES

_CODE = {name: code for code, name in FER2013_CODES.items()}

# Roughly FER2013's imbalance (happy most frequent, disgust ~6x rarer than happy).
FER_CLASS_WEIGHTS: dict[str, float] = {
    "angry": 0.14,
    "disgust": 0.04,
    "fear": 0.14,
    "happy": 0.24,
    "sad": 0.16,
    "surprise": 0.11,
    "neutral": 0.17,
}
FER_SPLITS = ("Training", "PublicTest", "PrivateTest")


# Expressions annotators confuse (FER2013-like label noise: a small share of training images
# shows one of these while labelled with the key).
_CONFUSABLE: dict[str, tuple[str, ...]] = {
    "angry": ("disgust", "sad", "neutral"),
    "disgust": ("angry", "sad"),
    "fear": ("surprise", "sad"),
    "happy": ("neutral", "surprise"),
    "sad": ("neutral", "fear", "angry"),
    "surprise": ("fear", "happy"),
    "neutral": ("sad", "angry", "happy"),
}
_LABEL_NOISE = 0.05


def _sample_expression(rng: np.random.Generator, emotion: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights over EMOTIONS and variant amounts for one training image labelled ``emotion``:
    random intensity (about a third weak), often an admixture of another emotion, and with
    probability _LABEL_NOISE a confusable emotion shown instead (annotator disagreement)."""
    if rng.random() < _LABEL_NOISE:
        emotion = str(rng.choice(_CONFUSABLE[emotion]))
    k = EMOTIONS.index(emotion)
    neutral = EMOTIONS.index("neutral")
    w = np.zeros(len(EMOTIONS))
    intensity = rng.uniform(0.25, 0.55) if rng.random() < 0.35 else rng.uniform(0.55, 1.0)
    if emotion == "neutral":
        w[neutral] = 1.0
        if rng.random() < 0.4:
            other = int(rng.choice([i for i in range(len(EMOTIONS)) if i != neutral]))
            w[other] = rng.uniform(0.05, 0.25)
    else:
        w[k] = intensity
        if rng.random() < 0.4:
            other = int(rng.choice([i for i in range(len(EMOTIONS)) if i not in (k, neutral)]))
            w[other] = rng.uniform(0.1, 0.55) * intensity
        w[neutral] = max(0.0, 1.0 - w.sum())
    variants = (rng.random(len(EMOTIONS)) < 0.35).astype(np.float64) * rng.uniform(0.5, 1.0)
    return w / w.sum(), variants


# Relation between a face's render geometry and the Haar box found on it (measured on this
# renderer): box centre = face centre + (0, _BOX_DY * width), box side = _BOX_SIDE * width.
_BOX_DY = 0.04
_BOX_SIDE = 1.14


def _fallback_box(center: tuple[float, float], width: float) -> tuple[int, int, int, int]:
    side = _BOX_SIDE * width
    cx, cy = center[0], center[1] + _BOX_DY * width
    return (round(cx - side / 2), round(cy - side / 2), round(side), round(side))


def _fer_image(
    rng: np.random.Generator,
    emotion: str,
    backgrounds: list[np.ndarray],
    detector: FaceDetector | BlazeFaceDetector,
    size: int = 136,
) -> tuple[np.ndarray, bool]:
    """One 48x48 gray training crop of class ``emotion``; also whether the detector found it."""
    bg = backgrounds[int(rng.integers(len(backgrounds)))]
    y0 = int(rng.integers(0, bg.shape[0] - size + 1))
    x0 = int(rng.integers(0, bg.shape[1] - size + 1))
    canvas = bg[y0 : y0 + size, x0 : x0 + size].copy()
    ident = _random_identity(rng)
    w, variants = _sample_expression(rng, emotion)
    p = _params_for(w, variants) + np.asarray(ident.rest) + rng.normal(0, 0.06, len(_PARAMS))
    width = rng.uniform(0.44, 0.62) * size
    center = (size / 2 + rng.uniform(-0.06, 0.06) * size, size * rng.uniform(0.42, 0.5))
    angle = rng.uniform(-10, 10)
    gaze = (float(rng.uniform(-1, 1)), float(rng.uniform(-0.6, 0.6)))
    blink = float(rng.uniform(0.5, 1.0)) if rng.random() < 0.04 else 0.0
    scale = _internal_scale(width)
    patch, alpha, ox, oy = _render_head(ident, p, scale, gaze, blink)
    _place(canvas, patch, alpha, (ox, oy), center, width / scale, angle)
    b = 0.5 * ident.aspect
    _draw_body(canvas, center[0], center[1] + (b + _NECK) * width, width, ident.clothes)
    # lighting, blur, sensor noise, compression
    gain = rng.uniform(0.65, 1.25)
    xs = np.linspace(-1, 1, size, dtype=np.float32)
    grad = 1 + rng.uniform(-0.3, 0.3) * np.tanh(xs / 0.5 - rng.uniform(-0.5, 0.5))
    tint = (1 + rng.normal(0, 0.04, 3)).astype(np.float32)
    f = _light(canvas, (gain * grad[:, None] * tint[None]).astype(np.float32))
    u = rng.random()
    if u < 0.15:
        f = _apply_blur(f, "defocus", rng.uniform(0.6, 1.6), 0.0)
    elif u < 0.25:
        f = _apply_blur(f, "motion", rng.uniform(3, 8), rng.uniform(0, 180))
    f += rng.normal(0, rng.uniform(1.5, 6.0), f.shape).astype(np.float32)
    img = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        q = int(rng.integers(35, 92))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if rng.random() < 0.5:
        img = img[:, ::-1].copy()
        center = (size - 1 - center[0], center[1])
    gray = to_gray(img)
    box = detector.detect(gray)
    expect = _fallback_box(center, width)
    hit = box is not None and _plausible(box, expect)
    crop = crop_face(gray, box if hit else expect, 48, margin=0.1)
    return crop, hit


def _plausible(box, expect) -> bool:
    """Whether a detector box is on the rendered face (not on the background)."""
    x, y, w, h = box
    ex, ey, ew, eh = expect
    dc = math.hypot(x + w / 2 - ex - ew / 2, y + h / 2 - ey - eh / 2)
    return dc < 0.3 * ew and 0.6 < w / ew < 1.6


def _allocate(n: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder), each
    positive-weight entry getting at least ``minimum``."""
    pos = weights > 0
    counts = np.zeros(len(weights), np.int64)
    counts[pos] = minimum
    rest = n - counts.sum()
    if rest < 0:
        raise ValueError(f"n_images={n} is too small: need at least {minimum} per class")
    share = weights / weights.sum() * rest
    counts += np.floor(share).astype(np.int64)
    left = n - counts.sum()
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    counts[order[:left]] += 1
    return counts


def fer_plan(
    n_images: int = 3500, class_weights: dict[str, float] | None = None
) -> list[tuple[str, str]]:
    """The (split, emotion) of every image of the set, in file order (grouped by split, as in
    FER2013; classes interleaved at random, seeded by the set's seed in :func:`make_fer_csv`,
    so this order is before that shuffle)."""
    weights_d = FER_CLASS_WEIGHTS if class_weights is None else class_weights
    weights = _emotion_weights(weights_d, "class_weights")
    per_class = _allocate(int(n_images), weights, len(FER_SPLITS))
    jobs: dict[str, list[str]] = {s: [] for s in FER_SPLITS}
    for e, n in zip(EMOTIONS, per_class, strict=True):
        if n == 0:
            continue
        n_pub = max(1, round(0.1 * n))
        n_priv = max(1, round(0.1 * n))
        n_train = n - n_pub - n_priv
        for split, k in zip(FER_SPLITS, (n_train, n_pub, n_priv), strict=True):
            jobs[split].extend([e] * k)
    return [(split, e) for split in FER_SPLITS for e in jobs[split]]


def make_fer_csv(
    path: str | Path,
    n_images: int = 3500,
    seed: int = 0,
    class_weights: dict[str, float] | None = None,
    part: int = 0,
    parts: int = 1,
) -> dict:
    """Write a FER2013-format CSV of synthetic 48x48 gray faces, or part ``part`` (0-based) of
    ``parts`` of it: the rows a whole set would have at that share of its file order, so the
    parts written side by side and joined by :func:`join_fer_parts` are the whole set, byte for
    byte (each image has its own random stream, from ``seed`` and its place in the set).

    Header ``emotion,pixels,Usage``; ``emotion`` is the FER2013 integer code (0 angry, 1 disgust,
    2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral); ``pixels`` 2304 space-separated 0-255 ints
    (row-major); ``Usage`` Training (~80%), PublicTest (~10%) or PrivateTest (~10%), stratified so
    every class with positive weight appears in every split (rows are grouped by split, as in
    FER2013). ``class_weights``: relative class frequencies over :data:`EMOTIONS` (default
    :data:`FER_CLASS_WEIGHTS`; missing names count 0). Each image is a new random person with a
    random intensity, blend, pose, lighting, blur, noise and JPEG compression, cropped the way the
    video pipeline crops (the default detector's box, ``crop_face(..., 48, margin=0.1)``; the
    rendered face box when the detector misses).

    Returns ``{"path", "n_images", "counts": {split: {emotion: n}}, "per_class": {emotion: n},
    "per_split": {split: n}, "detector_misses": n}`` for the rows written. Same arguments ->
    identical file.
    """
    if not 0 <= part < parts:
        raise ValueError(f"part {part} of {parts}: need 0 <= part < parts")
    plan = fer_plan(n_images, class_weights)
    rng = np.random.default_rng(_stable_seed("fer", seed))
    backgrounds = [_make_background(rng, 640, 480) for _ in range(8)]
    rows: list[tuple[str, str]] = []  # (split, emotion) in file order: classes shuffled per split
    for split in FER_SPLITS:
        block = [r for r in plan if r[0] == split]
        rows.extend(block[j] for j in rng.permutation(len(block)))
    lo, hi = len(rows) * part // parts, len(rows) * (part + 1) // parts
    detector = face_finder(track=False)  # the default detector, as the frames job uses
    counts = {s: dict.fromkeys(EMOTIONS, 0) for s in FER_SPLITS}
    misses = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["emotion", "pixels", "Usage"])
        for k in range(lo, hi):
            split, e = rows[k]
            image_rng = np.random.default_rng(_stable_seed("fer", seed, "image", k))
            crop, hit = _fer_image(image_rng, e, backgrounds, detector)
            misses += not hit
            counts[split][e] += 1
            out.writerow([_CODE[e], " ".join(map(str, crop.ravel().tolist())), split])
    tmp.replace(path)
    return _fer_stats(path, counts, misses)


def join_fer_parts(parts: list[str | Path], path: str | Path) -> dict:
    """Join the parts written by :func:`make_fer_csv` (in part order) into one FER2013-format CSV
    at ``path``. Returns the whole set's counts as make_fer_csv does (``detector_misses``: None,
    the parts' logs have theirs)."""
    counts = {s: dict.fromkeys(EMOTIONS, 0) for s in FER_SPLITS}
    emotion_of = {str(code): e for e, code in _CODE.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="") as out:
        for i, part in enumerate(parts):
            with open(part, newline="") as fh:
                header = fh.readline()
                if header.strip() != "emotion,pixels,Usage":
                    raise ValueError(f"{part}: not a FER set part (header {header.strip()!r})")
                if i == 0:
                    out.write(header)
                for line in fh:
                    code = line.split(",", 1)[0]
                    split = line.rstrip("\r\n").rsplit(",", 1)[1]
                    counts[split][emotion_of[code]] += 1
                    out.write(line)
    tmp.replace(path)
    return _fer_stats(path, counts, None)


def _fer_stats(path: Path, counts: dict[str, dict[str, int]], misses: int | None) -> dict:
    """make_fer_csv's summary (see there)."""
    return {
        "path": str(path),
        "n_images": sum(sum(c.values()) for c in counts.values()),
        "counts": counts,
        "per_class": {e: sum(counts[s][e] for s in FER_SPLITS) for e in EMOTIONS},
        "per_split": {s: sum(counts[s].values()) for s in FER_SPLITS},
        "detector_misses": misses,
    }
