"""Deterministic generator of the embedded demo study: synthetic faces showing the 7 FER2013
emotions, a FER2013-format training CSV and participant videos with ground-truth annotations.

One face renderer (:func:`render_face`) is used for both the training images and the videos, and the
48x48 training crops are cut the way the video pipeline finds faces (``face_finder(track=False)
.detect(gray)``, the default detector) with margin 0.1 (``crop_face(gray, box, 48, margin=0.1)``),
the geometry the CNN trained on the CSV records (config ``fer.crop_margin``: 0.1) and is fed from
the videos, so it sees the same kind of crop.

Faces are drawn the way OpenCV's frontal-face Haar cascade expects a face to look (radial skin
shading, dark blurred eye sockets, brows, a lighter nose bridge and cheeks), not as flat cartoons,
which the cascade does not find. Expressions are built from a small set of facial action
parameters (brow raise/lower/squeeze, lid opening, cheek raise, lip corner pull/depress, mouth
opening, upper-lip raise, nose wrinkle, wrinkles) mixed by the emotion weights.

Randomness: every generator here takes an explicit seed; per-participant and per-video random
streams are derived from the arguments with SHA-256 (never Python's salted ``hash()``), so the same
arguments give the same CSV rows, the same annotation and the same decoded video frames.

Annotation times: interval boundaries lie half-way between two frames (``(k - 0.5) / fps``), so
the frame at ``t = i / fps`` falls unambiguously inside one ``[start_s, end_s)`` interval; the first
interval starts at 0 and the last ends at ``n_frames / fps``.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotiontrack.faces import BlazeFaceDetector, FaceDetector, crop_face, face_finder, to_gray
from emotiontrack.labels import FER2013_CODES

EMOTIONS: list[str] = [FER2013_CODES[code] for code in sorted(FER2013_CODES)]
_CODE = {name: code for code, name in FER2013_CODES.items()}

DEFAULT_MIXES: dict[str, dict[str, float]] = {
    "condA": {
        "angry": 0.03,
        "disgust": 0.02,
        "fear": 0.03,
        "happy": 0.37,
        "sad": 0.04,
        "surprise": 0.20,
        "neutral": 0.31,
    },
    "condB": {
        "angry": 0.20,
        "disgust": 0.13,
        "fear": 0.16,
        "happy": 0.03,
        "sad": 0.25,
        "surprise": 0.03,
        "neutral": 0.20,
    },
}

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

_NECK = 0.3  # visible neck length below the chin (face widths)
_R = 128  # internal render width of a face (pixels); faces are warped to their final size
_SHIFT = 4  # cv2 drawing sub-pixel bits
_ONE = 1 << _SHIFT

# --------------------------------------------------------------------------------------------
# expression model
# --------------------------------------------------------------------------------------------

_PARAMS = (
    "brow_lift",  # both brows up (+) / down (-)
    "brow_inner",  # inner brow ends up (+, sad/fear) / down (-, angry)
    "brow_outer",  # outer brow ends up (+) / down (-)
    "brow_squeeze",  # brows pulled together (0..1)
    "lid_upper",  # upper lid raised (+, wide eyes) / drooping (-)
    "lid_lower",  # lower lid raised (squint, 0..1)
    "cheek",  # cheek raise (0..1)
    "smile",  # lip corners up (+) / down (-)
    "mouth_w",  # mouth stretched wider (+) / narrower (-)
    "mouth_open",  # lips parted (0..1)
    "lip_raise",  # upper lip raised (0..1)
    "lip_press",  # lips pressed thin (0..1)
    "teeth",  # teeth shown when the mouth is open (0..1)
    "jaw",  # jaw drop (0..1)
    "nose_wrinkle",  # (0..1)
    "forehead",  # horizontal forehead lines (0..1)
    "glabella",  # vertical lines between the brows (0..1)
    "chin_raise",  # chin boss pushed up (0..1)
    "lip_depress",  # lower lip pulled down (0..1)
    "sneer",  # one-sided upper-lip raise (0..1)
)
_P = {name: i for i, name in enumerate(_PARAMS)}


def _vec(d: dict[str, float]) -> np.ndarray:
    v = np.zeros(len(_PARAMS), np.float64)
    for k, x in d.items():
        v[_P[k]] = x
    return v


_UNITS: dict[str, np.ndarray] = {
    "angry": _vec(
        {
            "brow_lift": -0.6,
            "brow_inner": -1.0,
            "brow_outer": 0.3,
            "brow_squeeze": 1.0,
            "lid_upper": 0.25,
            "lid_lower": 0.5,
            "smile": -0.35,
            "mouth_w": -0.15,
            "lip_press": 1.0,
            "glabella": 1.0,
            "chin_raise": 0.5,
            "nose_wrinkle": 0.15,
        }
    ),
    "disgust": _vec(
        {
            "brow_lift": -0.35,
            "brow_inner": -0.45,
            "brow_squeeze": 0.6,
            "lid_lower": 0.8,
            "cheek": 0.45,
            "smile": -0.4,
            "mouth_open": 0.15,
            "lip_raise": 1.0,
            "teeth": 0.5,
            "nose_wrinkle": 1.0,
            "glabella": 0.5,
            "lip_depress": 0.5,
            "sneer": 0.7,
        }
    ),
    "fear": _vec(
        {
            "brow_lift": 0.8,
            "brow_inner": 0.7,
            "brow_squeeze": 0.6,
            "lid_upper": 0.65,
            "lid_lower": 0.25,
            "smile": -0.45,
            "mouth_w": 0.4,
            "mouth_open": 0.45,
            "teeth": 0.8,
            "jaw": 0.15,
            "forehead": 0.7,
            "lip_depress": 0.6,
        }
    ),
    "happy": _vec(
        {
            "brow_lift": 0.05,
            "lid_lower": 0.65,
            "cheek": 1.0,
            "smile": 1.1,
            "mouth_w": 0.45,
            "mouth_open": 0.7,
            "teeth": 1.0,
        }
    ),
    "sad": _vec(
        {
            "brow_lift": -0.1,
            "brow_inner": 1.0,
            "brow_outer": -0.5,
            "brow_squeeze": 0.35,
            "lid_upper": -0.45,
            "smile": -0.9,
            "mouth_w": -0.05,
            "chin_raise": 1.0,
            "forehead": 0.3,
        }
    ),
    "surprise": _vec(
        {
            "brow_lift": 1.0,
            "brow_inner": 0.15,
            "lid_upper": 0.8,
            "mouth_w": -0.3,
            "mouth_open": 0.85,
            "teeth": 0.15,
            "jaw": 1.0,
            "forehead": 1.0,
        }
    ),
    "neutral": _vec({}),
}

# Alternative forms of an emotion (added to its unit vector, scaled by the same weight): an angry
# face may bare its teeth, a smile may be closed-mouthed, etc.
_VARIANTS: dict[str, list[np.ndarray]] = {
    "angry": [
        _vec(
            {
                "lip_press": -1.0,
                "mouth_open": 0.4,
                "teeth": 1.0,
                "mouth_w": 0.35,
                "smile": 0.05,
                "lip_raise": 0.35,
            }
        )
    ],
    "disgust": [_vec({"sneer": -0.7, "mouth_open": -0.15, "teeth": -0.5})],
    "fear": [_vec({"mouth_open": -0.3, "teeth": -0.5, "mouth_w": 0.2})],
    "happy": [_vec({"mouth_open": -0.7, "teeth": -1.0, "mouth_w": -0.15})],
    "sad": [_vec({"mouth_open": 0.2, "lip_depress": 0.4, "chin_raise": -0.4})],
    "surprise": [_vec({"jaw": -0.4, "mouth_open": -0.35, "teeth": -0.15})],
    "neutral": [],
}


def _check_expression(expression: dict[str, float]) -> np.ndarray:
    """Emotion-name dict -> weight vector over EMOTIONS (normalised; empty -> neutral)."""
    w = np.zeros(len(EMOTIONS))
    for name, value in expression.items():
        if name not in EMOTIONS:
            raise ValueError(f"unknown emotion {name!r}; expected one of {EMOTIONS}")
        if value < 0:
            raise ValueError(f"emotion weight for {name!r} is negative ({value})")
        w[EMOTIONS.index(name)] = float(value)
    total = w.sum()
    if total <= 0:
        w[EMOTIONS.index("neutral")] = 1.0
        return w
    return w / total


def _params_for(weights: np.ndarray, variants: np.ndarray | None = None) -> np.ndarray:
    """Weights over EMOTIONS (and optional per-emotion variant amounts 0..1) -> action params."""
    p = np.zeros(len(_PARAMS))
    for i, name in enumerate(EMOTIONS):
        if weights[i] == 0:
            continue
        u = _UNITS[name]
        if variants is not None and variants[i] > 0 and _VARIANTS[name]:
            u = u + variants[i] * _VARIANTS[name][0]
        p += weights[i] * u
    return p


# --------------------------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------------------------

_SKIN_ANCHORS = np.array(
    [
        (198, 214, 242),
        (168, 192, 230),
        (128, 160, 206),
        (98, 132, 176),
        (72, 102, 146),
        (52, 72, 108),
    ],
    np.float64,
)
_HAIR = [
    (22, 22, 28),
    (28, 38, 56),
    (36, 58, 92),
    (95, 150, 195),
    (38, 62, 140),
    (140, 140, 145),
]
_IRIS = [(30, 50, 90), (25, 30, 45), (140, 110, 70), (80, 120, 70), (50, 90, 110)]


@dataclass(frozen=True)
class Identity:
    """Appearance of one synthetic person. Lengths are in face widths (the face oval's width),
    vertical positions relative to the face centre (positive = down); colours are BGR 0-255."""

    aspect: float  # face height / face width
    jaw_taper: float  # 0 round jaw .. 0.35 pointed chin
    skin: tuple[float, float, float]
    lips: tuple[float, float, float]
    hair: tuple[float, float, float]
    brows: tuple[float, float, float]
    iris: tuple[float, float, float]
    clothes: tuple[float, float, float]
    hair_style: int  # 0 short, 1 long, 2 very short / receding, 3 bob
    hairline: float  # y of the hairline centre
    fringe: float  # 0 none .. 1 fringe reaching towards the brows
    eye_spacing: float  # centre to centre
    eye_size: float  # eye width
    eye_y: float
    brow_gap: float  # brow above eye centre
    brow_thick: float
    nose_y: float  # nostril line
    nose_w: float
    mouth_y: float
    mouth_width: float
    lip_thick: float  # multiplier
    stubble: float  # 0..0.6 darkening of the beard area
    rest: tuple[float, ...]  # resting-face offsets added to the action parameters
    texture_seed: int


def _random_identity(rng: np.random.Generator) -> Identity:
    t = rng.uniform(0, len(_SKIN_ANCHORS) - 1)
    i = min(int(t), len(_SKIN_ANCHORS) - 2)
    skin = _SKIN_ANCHORS[i] + (t - i) * (_SKIN_ANCHORS[i + 1] - _SKIN_ANCHORS[i])
    skin = np.clip(skin + rng.normal(0, 5, 3), 30, 250)
    lips = np.clip(skin * np.array([0.66, 0.62, 0.92]) + rng.normal(0, 4, 3), 15, 240)
    hair = np.clip(np.array(_HAIR[int(rng.integers(len(_HAIR)))]) * rng.uniform(0.8, 1.2), 5, 240)
    brows = np.minimum(hair * (0.55 if hair.mean() > 80 else 0.95), skin * 0.5)
    iris = np.array(_IRIS[int(rng.integers(len(_IRIS)))], np.float64)
    clothes = np.clip(rng.uniform(35, 190) * (1 + rng.normal(0, 0.18, 3)), 15, 235)
    style = int(rng.choice(4, p=[0.35, 0.35, 0.1, 0.2]))
    rest = np.zeros(len(_PARAMS))
    for name, sd in (
        ("brow_lift", 0.12),
        ("brow_inner", 0.12),
        ("smile", 0.12),
        ("lid_upper", 0.12),
        ("mouth_w", 0.1),
        ("mouth_open", 0.05),
    ):
        rest[_P[name]] = rng.normal(0, sd)
    eye_y = rng.uniform(-0.10, -0.05)
    nose_y = eye_y + rng.uniform(0.21, 0.25)
    return Identity(
        aspect=float(rng.uniform(1.24, 1.40)),
        jaw_taper=float(rng.uniform(0.12, 0.34)),
        skin=tuple(float(x) for x in skin),
        lips=tuple(float(x) for x in lips),
        hair=tuple(float(x) for x in hair),
        brows=tuple(float(x) for x in brows),
        iris=tuple(float(x) for x in iris),
        clothes=tuple(float(x) for x in clothes),
        hair_style=style,
        hairline=float(rng.uniform(-0.50, -0.40) if style != 2 else rng.uniform(-0.62, -0.52)),
        fringe=float(0.0 if rng.random() < 0.6 or style == 2 else rng.uniform(0.3, 1.0)),
        eye_spacing=float(rng.uniform(0.37, 0.43)),
        eye_size=float(rng.uniform(0.17, 0.20)),
        eye_y=float(eye_y),
        brow_gap=float(rng.uniform(0.085, 0.105)),
        brow_thick=float(rng.uniform(0.035, 0.055)),
        nose_y=float(nose_y),
        nose_w=float(rng.uniform(0.042, 0.055)),
        mouth_y=float(nose_y + rng.uniform(0.13, 0.16)),
        mouth_width=float(rng.uniform(0.32, 0.39)),
        lip_thick=float(rng.uniform(0.8, 1.2)),
        stubble=float(0.0 if rng.random() < 0.8 else rng.uniform(0.15, 0.5)),
        rest=tuple(float(x) for x in rest),
        texture_seed=int(rng.integers(2**31)),
    )


def _stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text, stable across processes and Python versions."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def identity_for(name: str, seed: int) -> Identity:
    """Deterministic appearance of participant ``name`` under study ``seed`` (same name and seed ->
    same person, whatever the condition or video)."""
    return _random_identity(np.random.default_rng(_stable_seed("identity", seed, name)))


# --------------------------------------------------------------------------------------------
# drawing helpers (face units: face widths, origin at the face centre, y down)
# --------------------------------------------------------------------------------------------


class _Pen:
    """Maps face units to patch pixels and fixed-point cv2 coordinates."""

    def __init__(self, scale: float, ox: float, oy: float):
        self.s, self.ox, self.oy = scale, ox, oy

    def px(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64)
        return np.stack([xy[..., 0] * self.s + self.ox, xy[..., 1] * self.s + self.oy], -1)

    def fix(self, xy: np.ndarray, origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        p = self.px(xy) - np.asarray(origin)
        return np.round(p * _ONE).astype(np.int32).reshape(-1, 1, 2)

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return (round((x * self.s + self.ox) * _ONE), round((y * self.s + self.oy) * _ONE))

    def ln(self, v: float) -> int:
        return max(1, round(v * self.s * _ONE))

    def th(self, v: float) -> int:
        return max(1, round(v * self.s))


def _ellipse(img, pen: _Pen, c, axes, value, angle: float = 0.0, thickness: int = -1) -> None:
    cv2.ellipse(
        img,
        pen.pt(*c),
        (pen.ln(axes[0]), pen.ln(axes[1])),
        angle,
        0,
        360,
        value,
        thickness,
        cv2.LINE_AA,
        _SHIFT,
    )


def _polyline(img, pen: _Pen, pts, value, width: float) -> None:
    cv2.polylines(img, [pen.fix(pts)], False, value, pen.th(width), cv2.LINE_AA, _SHIFT)


def _blend_poly(img: np.ndarray, pen: _Pen, poly, color, clip=None, strength: float = 1.0) -> None:
    """Alpha-fill polygon ``poly`` (face units) with ``color`` on uint8 ``img``, optionally only
    inside polygon ``clip``; work is confined to the polygon's bounding box."""
    p = pen.px(poly)
    x0 = max(int(np.floor(p[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(p[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(p[:, 0].max())) + 2, img.shape[1])
    y1 = min(int(np.ceil(p[:, 1].max())) + 2, img.shape[0])
    if x1 <= x0 or y1 <= y0 or strength <= 0:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [pen.fix(poly, (x0, y0))], 255, cv2.LINE_AA, _SHIFT)
    mf = m.astype(np.float32) * (strength / 255.0)
    if clip is not None:
        c = np.zeros_like(m)
        cv2.fillPoly(c, [pen.fix(clip, (x0, y0))], 255, cv2.LINE_AA, _SHIFT)
        mf *= c.astype(np.float32) / 255.0
    roi = img[y0:y1, x0:x1].astype(np.float32)
    col = np.asarray(color, np.float32)
    roi += (col - roi) * mf[..., None]
    img[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)


def _curve(x: np.ndarray, xc: float, half: float, y_end: float, y_mid: float, power: float):
    """y(x) from ``y_end`` at x = xc +- half to ``y_mid`` at xc, shaped by (1 - u^2)^power."""
    u = np.clip((x - xc) / half, -1, 1)
    return y_end + (y_mid - y_end) * (1 - u * u) ** power


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


# --------------------------------------------------------------------------------------------
# face rendering
# --------------------------------------------------------------------------------------------


def _geometry(ident: Identity) -> tuple[float, float, float, float]:
    """Patch extent in face units: x half-width, y top, y bottom, face half-height."""
    b = 0.5 * ident.aspect
    return 0.9, -(b + 0.25), b + 0.62, b


@functools.lru_cache(maxsize=48)
def _base_layers(ident: Identity, scale: int, jaw_q: int, view: str):
    """Static parts of a head (hair, ears, neck, shaded skin) for ``view`` ('front', 'profile_l',
    'profile_r', 'down'). Returns (float32 BGR image, float32 alpha, ox, oy) - do not modify."""
    xh, ytop, ybot, b = _geometry(ident)
    pw, ph = int(math.ceil(2 * xh * scale)), int(math.ceil((ybot - ytop) * scale))
    ox, oy = xh * scale, -ytop * scale
    X = ((np.arange(pw, dtype=np.float32) + 0.5 - ox) / scale)[None, :]
    Y = ((np.arange(ph, dtype=np.float32) + 0.5 - oy) / scale)[:, None]
    img = np.zeros((ph, pw, 3), np.float32)
    alpha = np.zeros((ph, pw), np.float32)
    skin = np.asarray(ident.skin, np.float32)
    hair = np.asarray(ident.hair, np.float32)
    tex_rng = np.random.default_rng(ident.texture_seed)
    f1, f2, ph1, ph2 = tex_rng.uniform(55, 80), tex_rng.uniform(6, 11), *tex_rng.uniform(0, 6, 2)
    bend = 2.5 * np.sin(Y * f2 + ph1)
    strands = 1.0 + 0.06 * np.sin(X * f1 + bend + ph2) + 0.04 * np.sin(X * f1 * 2.3 + 0.7 * bend)

    def put(mask, color):
        nonlocal img, alpha
        m = mask[..., None]
        img = img * (1 - m) + color * m
        alpha = alpha + mask * (1 - alpha)

    def ell(cx, cy, ax, ay):
        r = np.sqrt(((X - cx) / ax) ** 2 + ((Y - cy) / ay) ** 2)
        return np.clip((1 - r) * min(ax, ay) * scale + 0.5, 0, 1), r

    jaw = jaw_q / 4.0
    if view == "front":
        if ident.hair_style == 1:  # long hair behind the head
            m, r = ell(0.0, 0.12, 0.64, b + 0.36)
            m = m * np.clip((b + 0.5 - Y) * scale, 0, 1)
            put(m, hair[None, None] * (0.55 + 0.3 * (1 - r))[..., None] * strands[..., None])
        elif ident.hair_style == 3:  # bob
            m, r = ell(0.0, -0.02, 0.6, b + 0.12)
            m = m * np.clip((0.32 - Y) * scale, 0, 1)
            put(m, hair[None, None] * (0.55 + 0.35 * (1 - r))[..., None] * strands[..., None])
        # neck
        nw = 0.28 + 0.05 * np.clip(Y - b, 0, None)
        m = np.clip((nw - np.abs(X)) * scale + 0.5, 0, 1) * np.clip((Y - 0.2) * scale, 0, 1)
        m = m * np.clip((ybot - 0.02 - Y) * scale, 0, 1)
        nshade = np.clip(0.5 + 0.5 * (Y - b) / 0.25, 0.5, 0.85)
        put(m, skin[None, None] * nshade[..., None])
        # ears
        for sx in (-1, 1):
            m, r = ell(sx * 0.49, ident.eye_y + 0.1, 0.06, 0.11)
            put(m, skin[None, None] * (0.72 + 0.12 * (1 - r))[..., None])
        # face oval with a tapered jaw; the jaw drops with an open mouth
        yl = np.where(Y > 0, Y / (b * (1 + 0.08 * jaw)), Y / b)
        ax = 0.5 * (1 - ident.jaw_taper * np.clip(yl, 0, 1) ** 2)
        r = np.sqrt((X / ax) ** 2 + yl**2)
        m = np.clip((1 - r) * 0.5 * scale + 0.5, 0, 1)
        shade = (1.08 - 0.42 * np.clip(r, 0, 1) ** 3) * (1 - 0.06 * Y / b)
        put(m, skin[None, None] * shade[..., None])
        # hair cap and hairline
        if ident.hair_style != 2:
            hl = ident.hairline + 0.34 * (X / 0.5) ** 2
            if ident.fringe > 0:
                fr = ident.fringe * (0.16 - 0.06 * (X / 0.5) ** 2) + 0.012 * np.sin(X * 45 + ph1)
                hl = hl + np.clip(fr, 0, None)
            hl = np.minimum(hl, ident.eye_y - ident.brow_gap - 0.075)
            hl = np.where(np.abs(X) > 0.43, ident.eye_y + 0.02, hl)  # temples / sideburns
            mc, rc = ell(0.0, -0.03, 0.535, b + 0.05)
            m = mc * np.clip((hl - Y) * scale + 0.5, 0, 1)
            put(m, hair[None, None] * (0.65 + 0.35 * (1 - rc))[..., None] * strands[..., None])
            if ident.hair_style == 1:  # locks falling along the cheeks
                edge = 0.445 + 0.035 * np.clip((Y + 0.1) / 0.35, 0, 1)
                end = 0.22 + 0.03 * np.sin(X * 60 + ph2)
                m = np.clip((np.abs(X) - edge) * scale + 0.5, 0, 1) * mc
                m = m * np.clip((end - Y) * scale * 0.5, 0, 1) * np.clip((Y + 0.5) * scale, 0, 1)
                put(m, hair[None, None] * 0.7 * strands[..., None])
        else:
            mc, rc = ell(0.0, -0.03, 0.52, b + 0.03)
            m = mc * np.clip((ident.hairline - Y) * scale + 0.5, 0, 1) * 0.35
            put(m, hair[None, None] * np.ones_like(rc)[..., None])
    elif view.startswith("profile"):
        sd = -1.0 if view == "profile_l" else 1.0
        nw = 0.26
        m = np.clip((nw - np.abs(X + sd * 0.02)) * scale + 0.5, 0, 1) * np.clip(
            (Y - 0.2) * scale, 0, 1
        )
        m = m * np.clip((ybot - 0.02 - Y) * scale, 0, 1)
        put(m, skin[None, None] * 0.6)
        mh, r = ell(0.0, 0.0, 0.46, b)
        put(mh, skin[None, None] * (1.0 - 0.35 * np.clip(r, 0, 1) ** 2)[..., None])
        # nose and chin on the front edge
        tri = np.zeros((ph, pw), np.uint8)
        pen = _Pen(scale, ox, oy)
        nose = np.array(
            [[sd * 0.40, ident.eye_y], [sd * 0.53, ident.nose_y], [sd * 0.40, ident.nose_y + 0.03]]
        )
        cv2.fillPoly(tri, [pen.fix(nose)], 255, cv2.LINE_AA, _SHIFT)
        put(tri.astype(np.float32) / 255.0, skin[None, None] * 0.9)
        # hair over the back and top
        u = X * sd
        m = mh * np.clip((-0.02 - u) * scale, 0, 1)
        m = np.maximum(m, mh * np.clip((ident.hairline + 0.1 - Y + 0.25 * u) * scale, 0, 1))
        put(m, hair[None, None] * (0.6 + 0.3 * (1 - r))[..., None] * strands[..., None])
        if ident.hair_style in (1, 3):
            m2, r2 = ell(-sd * 0.12, 0.1, 0.4, b + (0.3 if ident.hair_style == 1 else 0.1))
            m2 = m2 * np.clip((0.0 - u) * scale, 0, 1) * np.clip((b + 0.45 - Y) * scale, 0, 1)
            put(m2, hair[None, None] * 0.65 * strands[..., None])
        m, _ = ell(sd * 0.02, ident.eye_y + 0.1, 0.07, 0.11)
        put(m * np.clip((0.12 - u) * scale + 2, 0, 1), skin[None, None] * 0.75)
    else:  # "down": looking down, we see the top of the head and the forehead
        m = np.clip((0.27 - np.abs(X)) * scale + 0.5, 0, 1) * np.clip((Y - 0.3) * scale, 0, 1)
        m = m * np.clip((ybot - 0.02 - Y) * scale, 0, 1)
        put(m, skin[None, None] * 0.55)
        mh, r = ell(0.0, 0.08, 0.5, b * 0.9)
        put(mh, skin[None, None] * (1.0 - 0.4 * np.clip(r, 0, 1) ** 2)[..., None])
        m = mh * np.clip((0.28 + 0.1 * (X / 0.5) ** 2 - Y) * scale, 0, 1)
        put(m, hair[None, None] * (0.6 + 0.35 * (1 - r))[..., None] * strands[..., None])
    img = np.clip(img, 0, 255)
    img.setflags(write=False)
    alpha.setflags(write=False)
    return img, alpha, ox, oy


def _render_head(
    ident: Identity,
    p: np.ndarray,
    scale: int = _R,
    gaze: tuple[float, float] = (0.0, 0.0),
    blink: float = 0.0,
    view: str = "front",
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Render a head in an axis-aligned patch. ``p``: action parameters (see _PARAMS).
    Returns (BGR uint8 patch, float32 alpha 0..1, ox, oy) where (ox, oy) is the face centre."""
    g = {name: float(p[i]) for i, name in enumerate(_PARAMS)}
    jaw = float(np.clip(g["jaw"], 0, 1))
    base, alpha, ox, oy = _base_layers(ident, scale, round(jaw * 4), view)
    if view != "front":
        out = cv2.GaussianBlur(np.clip(base + 0.5, 0, 255).astype(np.uint8), (0, 0), scale / 160)
        return out, alpha, ox, oy
    pen = _Pen(scale, ox, oy)
    ph, pw = alpha.shape
    skin = np.asarray(ident.skin, np.float64)
    es, ey = ident.eye_spacing / 2, ident.eye_y
    ny, my = ident.nose_y, ident.mouth_y
    lift, inner, outer = g["brow_lift"], g["brow_inner"], g["brow_outer"]
    squeeze = float(np.clip(g["brow_squeeze"], 0, 1))
    cheek = float(np.clip(g["cheek"], 0, 1))
    smile = float(np.clip(g["smile"], -1.2, 1.2))
    wrinkle = float(np.clip(g["nose_wrinkle"], 0, 1))

    # --- soft shading (sockets, bridge, cheeks): multiplicative, heavily blurred
    soft = np.ones((ph, pw), np.float32)
    brow_y = ey - ident.brow_gap
    for sx in (-1, 1):
        _ellipse(soft, pen, (sx * (es + 0.005), ey - 0.012 + 0.01 * lift), (0.125, 0.075), 0.58)
        _ellipse(soft, pen, (sx * (es + 0.01), ey + 0.055), (0.09, 0.03), 0.82)
        cy = ny - 0.02 - 0.04 * cheek
        _ellipse(soft, pen, (sx * 0.2, cy), (0.1, 0.07), 1.12 + 0.06 * cheek)
        _ellipse(soft, pen, (sx * 0.055, ny - 0.07), (0.022, 0.085), 0.86)  # nose sides
    _ellipse(soft, pen, (0.0, ey + 0.02), (0.032, 0.13), 1.18)  # bridge highlight
    _ellipse(soft, pen, (0.0, ny + 0.035), (0.075, 0.022), 0.72)  # under the nose
    _ellipse(soft, pen, (0.0, brow_y - 0.13), (0.2, 0.07), 1.08)  # forehead highlight
    _ellipse(soft, pen, (0.0, my + 0.1), (0.09, 0.03), 0.85)  # under the lower lip
    if ident.stubble > 0:
        beard = np.array(
            [[-0.46, ny], [-0.3, ny + 0.08], [0.3, ny + 0.08], [0.46, ny], [0.3, 0.7], [-0.3, 0.7]]
        )
        cv2.fillPoly(soft, [pen.fix(beard)], 1.0 - ident.stubble * 0.45, cv2.LINE_8, _SHIFT)
    soft = cv2.GaussianBlur(soft, (0, 0), 0.03 * scale)

    # --- fine shading: wrinkles and folds
    fine = np.ones((ph, pw), np.float32)
    fw = 0.011
    fh = float(np.clip(g["forehead"], 0, 1))
    if fh > 0.05:
        for k in range(3):
            yy = brow_y - 0.075 - 0.045 * k - 0.03 * lift
            xs = np.linspace(-0.2 + 0.03 * k, 0.2 - 0.03 * k, 9)
            _polyline(fine, pen, np.c_[xs, yy + 0.02 * (xs / 0.2) ** 2], 1 - 0.22 * fh, fw)
    gl = float(np.clip(g["glabella"], 0, 1))
    if gl > 0.05:
        for sx in (-1, 1):
            pts = np.array([[sx * 0.03, brow_y + 0.01], [sx * 0.02, brow_y - 0.06]])
            _polyline(fine, pen, pts, 1 - 0.3 * gl, fw)
    nl = float(np.clip(0.25 + 0.75 * max(smile, 0) + 0.6 * wrinkle + 0.3 * g["lip_raise"], 0, 1.2))
    for sx in (-1, 1):
        t = np.linspace(0, 1, 8)
        mx = ident.mouth_width / 2 + 0.03
        x = sx * (ident.nose_w + 0.05 + (mx - ident.nose_w - 0.03) * t)
        y = ny - 0.02 + (my - ny + 0.05) * t - 0.03 * np.sin(t * np.pi) * max(smile, 0)
        _polyline(fine, pen, np.c_[x, y], 1 - 0.25 * nl, fw * 1.2)
        if cheek > 0.3:  # crow's feet
            for a in (-0.5, 0.0, 0.5):
                x0 = sx * (es + ident.eye_size / 2 + 0.015)
                pts = np.array([[x0, ey], [x0 + sx * 0.05, ey + a * 0.04]])
                _polyline(fine, pen, pts, 1 - 0.25 * cheek, fw * 0.8)
        if g["lid_lower"] > 0.2:  # lower-lid bulge
            xs = np.linspace(-ident.eye_size / 2, ident.eye_size / 2, 7)
            yy = ey + 0.045 + 0.01 * (1 - (xs / (ident.eye_size / 2)) ** 2)
            _polyline(fine, pen, np.c_[sx * es + xs, yy], 1 - 0.2 * g["lid_lower"], fw)
    if wrinkle > 0.1:
        for k in range(3):
            yy = ey + 0.005 + 0.022 * k
            _polyline(
                fine, pen, np.array([[-0.045, yy], [0.045, yy - 0.005]]), 1 - 0.3 * wrinkle, fw
            )
    chin = float(np.clip(g["chin_raise"], 0, 1))
    if chin > 0.1:
        xs = np.linspace(-0.07, 0.07, 7)
        _polyline(
            fine, pen, np.c_[xs, my + 0.11 - 0.02 * (1 - (xs / 0.07) ** 2)], 1 - 0.3 * chin, fw
        )
    fine = cv2.GaussianBlur(fine, (0, 0), 0.008 * scale)

    img = base * (soft * fine)[..., None]
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)

    # --- eyes
    blink = float(np.clip(blink, 0, 1))
    iris = tuple(float(c) for c in ident.iris)
    for sx in (-1, 1):
        ex = sx * es
        ew = ident.eye_size / 2
        hu = 0.042 * (1 + 0.9 * g["lid_upper"]) * (1 - 0.3 * cheek) * (1 - blink)
        hl = 0.03 * (1 - 0.85 * np.clip(g["lid_lower"], 0, 1)) * (1 - blink)
        hu, hl = max(hu, 0.002), max(hl, 0.002)
        u = np.linspace(-1, 1, 17)
        x = ex + ew * u
        slant = 0.012 * inner * (u * sx) * (1 - u * u)
        yu = ey - hu * (1 - u * u) ** 0.7 + slant - 0.004 * u * sx
        yl = ey + hl * (1 - u * u) ** 0.8 - 0.004 * u * sx
        eye = np.r_[np.c_[x, yu], np.c_[x[::-1], yl[::-1]]]
        if hu + hl > 0.012:
            _blend_poly(img, pen, eye, (196, 202, 208))
            ic = (ex + 0.35 * ew * gaze[0], ey - 0.004 + 0.01 * gaze[1])
            ri = 0.4 * ew
            circ = np.c_[
                ic[0] + ri * np.cos(np.linspace(0, 2 * np.pi, 24)),
                ic[1] + ri * np.sin(np.linspace(0, 2 * np.pi, 24)),
            ]
            _blend_poly(img, pen, circ, iris, clip=eye)
            circ = np.c_[
                ic[0] + 0.45 * ri * np.cos(np.linspace(0, 2 * np.pi, 16)),
                ic[1] + 0.45 * ri * np.sin(np.linspace(0, 2 * np.pi, 16)),
            ]
            _blend_poly(img, pen, circ, (15, 15, 18), clip=eye)
        lash = tuple(float(c) for c in np.minimum(np.asarray(ident.brows) * 0.8, 40))
        _polyline(img, pen, np.c_[x, yu], lash, 0.014 + 0.006 * blink)
        _polyline(img, pen, np.c_[x, yl], tuple(skin * 0.6), 0.007)
        crease = np.c_[x * 0.95 + ex * 0.05, yu - 0.03 - 0.01 * g["lid_upper"]]
        _polyline(img, pen, crease[2:-2], tuple(skin * 0.72), 0.008)

    # --- brows
    bcol = tuple(float(c) for c in ident.brows)
    for sx in (-1, 1):
        xi = sx * (0.065 - 0.022 * squeeze) * (ident.eye_spacing / 0.4)
        xo = sx * (es + ident.eye_size / 2 + 0.03)
        xm = 0.45 * xi + 0.55 * xo
        yb = brow_y - 0.055 * lift
        yi = yb - 0.05 * inner + 0.01
        ym = yb - 0.018 - 0.015 * inner - 0.01 * outer
        yo = yb + 0.012 - 0.035 * outer
        t = np.linspace(0, 1, 9)[:, None]
        c = (
            (1 - t) ** 2 * np.array([xi, yi])
            + 2 * t * (1 - t) * np.array([xm, 2 * ym - (yi + yo) / 2])
            + t**2 * np.array([xo, yo])
        )
        d = np.gradient(c, axis=0)
        nrm = np.c_[-d[:, 1], d[:, 0]] / np.linalg.norm(d, axis=1, keepdims=True)
        th = ident.brow_thick * (1.1 - 0.55 * t)
        poly = np.r_[c + nrm * th / 2, (c - nrm * th / 2)[::-1]]
        _blend_poly(img, pen, poly, bcol, strength=0.92)

    # --- nose
    nw = ident.nose_w * (1 + 0.2 * wrinkle)
    nyy = ny - 0.015 * wrinkle
    for sx in (-1, 1):
        _ellipse(img, pen, (sx * nw, nyy), (0.021, 0.011), tuple(skin * 0.42), angle=sx * 20)
    _polyline(
        img,
        pen,
        np.array(
            [[-nw * 1.5, nyy - 0.02], [-nw, nyy + 0.012], [nw, nyy + 0.012], [nw * 1.5, nyy - 0.02]]
        ),
        tuple(skin * 0.7),
        0.008,
    )

    # --- mouth
    _draw_mouth(img, pen, ident, g)

    out = cv2.GaussianBlur(img, (0, 0), scale / 170)
    return out, alpha, ox, oy


def _draw_mouth(img: np.ndarray, pen: _Pen, ident: Identity, g: dict[str, float]) -> None:
    smile = float(np.clip(g["smile"], -1.2, 1.2))
    opn = float(np.clip(g["mouth_open"], 0, 1.2))
    jaw = float(np.clip(g["jaw"], 0, 1))
    press = float(np.clip(g["lip_press"], 0, 1))
    lraise = float(np.clip(g["lip_raise"], 0, 1))
    depress = float(np.clip(g["lip_depress"], 0, 1))
    chin = float(np.clip(g["chin_raise"], 0, 1))
    sneer = float(np.clip(g["sneer"], 0, 1))
    teeth = float(np.clip(g["teeth"], 0, 1))
    my = ident.mouth_y
    mw = ident.mouth_width / 2 * (1 + 0.25 * g["mouth_w"] + 0.1 * max(smile, 0))
    mw = float(np.clip(mw, 0.09, 0.3))
    cy = my - (0.05 * smile if smile > 0 else 0.045 * smile)
    open_h = 0.10 * opn + 0.07 * jaw
    ut = 0.032 * ident.lip_thick * (1 - 0.65 * press)
    lt = 0.046 * ident.lip_thick * (1 - 0.6 * press)
    yiu = my - 0.25 * open_h - 0.028 * lraise - 0.01 * chin
    yil = my + 0.75 * open_h + 0.012 * depress - 0.01 * chin
    power = 1.0 - 0.45 * min(1.0, open_h / 0.1)
    x = np.linspace(-mw, mw, 25)
    side = np.exp(-((((x / mw) + 0.45) / 0.3) ** 2)) * sneer * lraise
    iu = _curve(x, 0, mw, cy, yiu, power) - 0.025 * side
    il = _curve(x, 0, mw, cy, yil, power)
    bow = 0.007 * np.exp(-(((x / mw) / 0.18) ** 2))
    ou = _curve(x, 0, mw, cy, yiu - ut, 0.8) + bow - 0.03 * side
    ol = _curve(x, 0, mw, cy, yil + lt, 0.85)
    lips = tuple(float(c) for c in ident.lips)
    skin = np.asarray(ident.skin, np.float64)
    if open_h > 0.012:
        cavity = np.r_[np.c_[x, iu], np.c_[x[::-1], il[::-1]]]
        _blend_poly(img, pen, cavity, tuple(skin * 0.12 + 12))
        if teeth > 0.05:
            th = min(0.04, 0.6 * (yil - yiu))
            band = np.r_[np.c_[x, iu - 0.01], np.c_[x[::-1], iu[::-1] + th]]
            _blend_poly(img, pen, band, (205, 212, 218), clip=cavity, strength=teeth)
            if teeth > 0.5:
                band = np.r_[np.c_[x, il - 0.35 * th], np.c_[x[::-1], il[::-1] + 0.01]]
                _blend_poly(img, pen, band, (185, 192, 198), clip=cavity, strength=teeth - 0.4)
    upper = np.r_[np.c_[x, ou], np.c_[x[::-1], iu[::-1]]]
    lower = np.r_[np.c_[x, il], np.c_[x[::-1], ol[::-1]]]
    _blend_poly(img, pen, upper, tuple(np.asarray(lips) * 0.88), strength=0.95)
    _blend_poly(img, pen, lower, lips, strength=0.95)
    line = tuple(skin * 0.3)
    if open_h <= 0.012:
        _polyline(img, pen, np.c_[x, (iu + il) / 2], line, 0.012)
    for sx in (-1, 1):
        _ellipse(img, pen, (sx * (mw + 0.004), cy), (0.008, 0.006), tuple(skin * 0.55))


def _place(
    canvas: np.ndarray,
    patch: np.ndarray,
    alpha: np.ndarray,
    anchor: tuple[float, float],
    center: tuple[float, float],
    zoom: float,
    angle_deg: float,
) -> None:
    """Warp ``patch`` (its point ``anchor`` to canvas point ``center``, scaled by ``zoom``, rotated
    by ``angle_deg`` counter-clockwise) and alpha-blend it onto ``canvas`` in place."""
    M = cv2.getRotationMatrix2D((float(anchor[0]), float(anchor[1])), angle_deg, zoom)
    M[0, 2] += center[0] - anchor[0]
    M[1, 2] += center[1] - anchor[1]
    ph, pw = alpha.shape
    corners = np.array([[0, 0, 1], [pw, 0, 1], [0, ph, 1], [pw, ph, 1]], np.float64) @ M.T
    H, W = canvas.shape[:2]
    x0 = max(int(np.floor(corners[:, 0].min())), 0)
    y0 = max(int(np.floor(corners[:, 1].min())), 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 1, W)
    y1 = min(int(np.ceil(corners[:, 1].max())) + 1, H)
    if x1 <= x0 or y1 <= y0:
        return
    M[0, 2] -= x0
    M[1, 2] -= y0
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(patch, M, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    a = cv2.warpAffine(alpha, M, size, flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    roi = canvas[y0:y1, x0:x1]
    if roi.ndim == 2:
        warped = cv2.cvtColor(warped, cv2.COLOR_BGR2GRAY)[..., None]
        roi = roi[..., None]
    out = roi.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a
    canvas[y0:y1, x0:x1] = (
        np.clip(out + 0.5, 0, 255).astype(np.uint8).reshape(canvas[y0:y1, x0:x1].shape)
    )


def _internal_scale(width: float) -> int:
    """Render width for a face shown ``width`` px wide: native below ~100 px (no aliasing when
    warping down), the cached default around video sizes, native again for big faces."""
    if width < 0.8 * _R:
        return max(24, int(round(width)))
    return _R if width <= 1.3 * _R else int(round(width))


def render_face(
    canvas: np.ndarray,
    center: tuple[float, float],
    width: float,
    angle_deg: float,
    expression: dict[str, float],
    identity: Identity,
    rng: np.random.Generator,
) -> None:
    """Draw a face (with hair, ears and neck) in place on a BGR uint8 ``canvas`` (a 2-D gray
    canvas also works). Parts outside the canvas are clipped.

    ``center``: (x, y) pixel position of the face centre (about the nose bridge below the eyes);
    ``width``: face-oval width in pixels (the head with hair is ~1.1x, the whole face ~1.3x as
    tall); ``angle_deg``: in-plane roll, counter-clockwise positive; ``expression``: weights over
    :data:`EMOTIONS` (normalised here; a blend during transitions, intensity < 1 by mixing with
    neutral; empty -> neutral); ``identity``: the person; ``rng``: draws the small per-call
    variation (gaze direction)."""
    w = _check_expression(expression)
    p = _params_for(w) + np.asarray(identity.rest)
    gaze = tuple(float(v) for v in np.clip(rng.normal(0, 0.35, 2), -1, 1))
    scale = _internal_scale(width)
    patch, alpha, ox, oy = _render_head(identity, p, scale, gaze)
    _place(canvas, patch, alpha, (ox, oy), center, width / scale, angle_deg)


# --------------------------------------------------------------------------------------------
# scene: background, body, hands
# --------------------------------------------------------------------------------------------


def _rect(img, x0, y0, x1, y1, color, thickness: int = -1) -> None:
    cv2.rectangle(
        img,
        (int(x0), int(y0)),
        (int(x1), int(y1)),
        tuple(float(c) for c in color),
        thickness,
        cv2.LINE_AA,
    )


def _make_background(rng: np.random.Generator, W: int, H: int) -> np.ndarray:
    """A room-like BGR uint8 backdrop: shaded wall with texture, floor, furniture, window/door,
    shelves and pictures (nothing face-like)."""
    yy = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    xx = np.linspace(0, 1, W, dtype=np.float32)[None, :, None]
    wall = rng.uniform(115, 200) * (1 + rng.normal(0, 0.04, 3)).astype(np.float32)
    cxl = rng.uniform(0.2, 0.8)
    img = wall * (1.1 - 0.22 * yy) * (1 - 0.25 * (xx - cxl) ** 2)
    small = rng.normal(0, 1, (5, 7, 1)) + rng.normal(0, 0.3, (5, 7, 3))
    img = img + cv2.resize(small.astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC) * 7
    img = np.clip(img, 0, 255).astype(np.uint8)
    floor_y = int(H * rng.uniform(0.74, 0.9))
    floor = rng.uniform(50, 140) * np.array([0.7, 0.85, 1.0]) * rng.uniform(0.8, 1.2, 3)
    _rect(img, 0, floor_y, W, H, floor)
    for k in range(int(rng.integers(6, 14))):  # floor boards / carpet texture
        y = floor_y + (H - floor_y) * (k + 1) / 14
        cv2.line(
            img, (0, int(y)), (W, int(y + rng.uniform(-4, 4))), tuple(floor * 0.85), 1, cv2.LINE_AA
        )
    _rect(img, 0, floor_y - 8, W, floor_y, np.clip(wall * 1.15, 0, 255))
    kinds = list(
        rng.permutation(["window", "door", "shelf", "picture", "lamp", "plant", "cabinet"])
    )
    xs = np.sort(rng.uniform(0.0, 1.0, 4))
    for kind, fx in zip(kinds[:4], xs, strict=True):
        x = int(fx * (W - 120))
        if kind == "window":
            w, h, y = (
                int(rng.uniform(110, 190)),
                int(rng.uniform(90, 150)),
                int(rng.uniform(30, 90)),
            )
            frame = np.clip(wall * 1.3, 0, 255)
            _rect(img, x, y, x + w, y + h, frame)
            sky = np.array(rng.uniform(170, 240, 3))
            for i in range(h - 16):
                c = sky * (0.85 + 0.15 * i / h)
                cv2.line(
                    img, (x + 8, y + 8 + i), (x + w - 8, y + 8 + i), tuple(float(v) for v in c), 1
                )
            _rect(img, x + w // 2 - 3, y, x + w // 2 + 3, y + h, frame)
            _rect(img, x, y + h // 2 - 3, x + w, y + h // 2 + 3, frame)
        elif kind == "door":
            w = int(rng.uniform(90, 130))
            wood = rng.uniform(40, 130) * np.array([0.6, 0.8, 1.0])
            _rect(img, x, int(H * 0.12), x + w, floor_y, wood)
            _rect(img, x, int(H * 0.12), x + w, floor_y, wood * 0.7, 3)
            _rect(img, x + 12, int(H * 0.18), x + w - 12, int(H * 0.45), wood * 0.88, 2)
            _rect(img, x + w - 20, int(H * 0.5), x + w - 10, int(H * 0.5) + 5, (60, 60, 60))
        elif kind == "shelf":
            y = int(rng.uniform(0.15, 0.45) * H)
            w = int(rng.uniform(120, 220))
            board = rng.uniform(50, 120) * np.array([0.6, 0.8, 1.0])
            bx = x
            while bx < x + w - 14:
                bw, bh = int(rng.integers(6, 15)), int(rng.integers(28, 52))
                _rect(img, bx, y - bh, bx + bw, y, rng.uniform(30, 220, 3))
                bx += bw + int(rng.integers(0, 3))
            _rect(img, x - 4, y, x + w + 4, y + 8, board)
        elif kind == "picture":
            w, h, y = (
                int(rng.uniform(70, 140)),
                int(rng.uniform(50, 100)),
                int(rng.uniform(40, 140)),
            )
            _rect(img, x, y, x + w, y + h, rng.uniform(20, 90, 3))
            c1, c2 = rng.uniform(60, 230, 3), rng.uniform(60, 230, 3)
            split = y + 5 + int((h - 10) * rng.uniform(0.3, 0.7))
            _rect(img, x + 5, y + 5, x + w - 5, split, c1)
            _rect(img, x + 5, split, x + w - 5, y + h - 5, c2)
        elif kind == "lamp":
            top = int(rng.uniform(0.2, 0.4) * H)
            cv2.line(img, (x + 30, top), (x + 30, floor_y), (40, 40, 40), 3, cv2.LINE_AA)
            shade = np.array([[x + 12, top], [x + 48, top], [x + 58, top + 34], [x + 2, top + 34]])
            cv2.fillPoly(
                img,
                [shade.astype(np.int32)],
                tuple(float(v) for v in rng.uniform(150, 240, 3)),
                cv2.LINE_AA,
            )
        elif kind == "plant":
            base_y = floor_y
            pot = np.array(
                [[x + 10, base_y - 40], [x + 50, base_y - 40], [x + 44, base_y], [x + 16, base_y]]
            )
            cv2.fillPoly(
                img,
                [pot.astype(np.int32)],
                tuple(float(v) for v in rng.uniform(40, 160, 3)),
                cv2.LINE_AA,
            )
            for _ in range(14):
                cx, cy = x + 30 + rng.normal(0, 16), base_y - 40 - abs(rng.normal(30, 22))
                green = (rng.uniform(20, 70), rng.uniform(80, 150), rng.uniform(20, 70))
                ax = (int(rng.uniform(5, 10)), int(rng.uniform(14, 24)))
                cv2.ellipse(
                    img, (int(cx), int(cy)), ax, rng.uniform(0, 180), 0, 360, green, -1, cv2.LINE_AA
                )
        else:  # cabinet
            w, h = int(rng.uniform(100, 170)), int(rng.uniform(70, 120))
            col = rng.uniform(50, 190, 3)
            _rect(img, x, floor_y - h, x + w, floor_y, col)
            _rect(img, x, floor_y - h, x + w, floor_y - h + 6, col * 0.8)
            cv2.line(
                img, (x + w // 2, floor_y - h + 10), (x + w // 2, floor_y - 4), tuple(col * 0.6), 1
            )
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def _draw_body(frame: np.ndarray, cx: float, neck_y: float, s: float, color) -> None:
    """Shoulders and torso below a head of face width ``s`` (pixels) centred at ``cx``."""
    H = frame.shape[0]
    bottom = max(H + 10, neck_y + s)
    half = [0.28, 0.68, 1.05, 1.18, 1.22]
    dy = [0.0, 0.1, 0.3, 0.7, bottom / s]
    left = [
        (cx - h * s, neck_y + d * s if i < 4 else bottom)
        for i, (h, d) in enumerate(zip(half, dy, strict=True))
    ]
    right = [(2 * cx - x, y) for x, y in left][::-1]
    collar = [
        (cx + 0.2 * s, neck_y + 0.02 * s),
        (cx, neck_y + 0.2 * s),
        (cx - 0.2 * s, neck_y + 0.02 * s),
    ]
    pts = np.array(left + right + collar)
    col = np.asarray(color, np.float64)
    cv2.fillPoly(frame, [np.round(pts * _ONE).astype(np.int32)], tuple(col), cv2.LINE_AA, _SHIFT)
    shade = np.array(
        [
            (cx + 0.55 * s, neck_y + 0.12 * s),
            (cx + 1.05 * s, neck_y + 0.5 * s),
            (cx + 1.12 * s, bottom),
            (cx + 0.7 * s, bottom),
        ]
    )
    cv2.fillPoly(
        frame, [np.round(shade * _ONE).astype(np.int32)], tuple(col * 0.8), cv2.LINE_AA, _SHIFT
    )
    seam = np.array(collar)
    cv2.polylines(
        frame,
        [np.round(seam * _ONE).astype(np.int32)],
        False,
        tuple(col * 0.6),
        2,
        cv2.LINE_AA,
        _SHIFT,
    )


@functools.lru_cache(maxsize=32)
def _hand_layers(skin: tuple[float, float, float], scale: int, fist: bool):
    """A hand (fingers pointing up, palm centre as anchor) drawn at face width ``scale`` px.
    Returns (BGR uint8 patch, float32 alpha, ox, oy)."""
    size = int(scale * 1.3)
    ox, oy = size / 2, size * 0.62
    pen = _Pen(scale, ox, oy)
    m = np.zeros((size, size), np.uint8)
    _ellipse(m, pen, (0.0, 0.0), (0.2, 0.24), 255)
    fingers = []
    if fist:
        for k in range(4):
            _ellipse(m, pen, (-0.15 + 0.1 * k, -0.2), (0.055, 0.06), 255)
    else:
        for k, length in enumerate((0.3, 0.36, 0.35, 0.28)):
            x = -0.15 + 0.1 * k
            tip = (x * 1.1, -0.18 - length)
            fingers.append(((x, -0.12), tip))
            cv2.line(m, pen.pt(x, -0.12), pen.pt(*tip), 255, pen.th(0.105), cv2.LINE_AA, _SHIFT)
    cv2.line(m, pen.pt(0.15, 0.05), pen.pt(0.34, -0.12), 255, pen.th(0.09), cv2.LINE_AA, _SHIFT)
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), scale / 150)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt(((xx - ox) / (0.45 * scale)) ** 2 + ((yy - oy) / (0.55 * scale)) ** 2)
    col = np.asarray(skin, np.float32) * np.array([0.95, 0.93, 1.04], np.float32)
    img = col[None, None] * np.clip(1.08 - 0.3 * r**2, 0.6, 1.1)[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for (x0, y0), (x1, y1) in fingers[:-1]:  # shadows between fingers
        a, b = pen.pt(x0 + 0.05, y0 - 0.04), pen.pt(x1 + 0.06, y1 + 0.06)
        cv2.line(img, a, b, tuple(float(c) for c in col * 0.78), pen.th(0.012), cv2.LINE_AA, _SHIFT)
    img = cv2.GaussianBlur(img, (0, 0), scale / 180)
    img.setflags(write=False)
    alpha.setflags(write=False)
    return img, alpha, ox, oy


# --------------------------------------------------------------------------------------------
# FER2013-format training CSV
# --------------------------------------------------------------------------------------------


def _light(img: np.ndarray, gain_row: np.ndarray) -> np.ndarray:
    """Multiply BGR uint8 ``img`` by a per-column, per-channel gain (W, 3) -> float32."""
    return img.astype(np.float32) * gain_row[None]


def _apply_blur(img: np.ndarray, kind: str, amount: float, angle: float) -> np.ndarray:
    if kind == "defocus":
        return cv2.GaussianBlur(img, (0, 0), amount)
    n = max(3, int(round(amount)) | 1)
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cv2.line(
        k,
        (round(c - dx * c), round(c - dy * c)),
        (round(c + dx * c), round(c + dy * c)),
        1.0,
        1,
        cv2.LINE_AA,
    )
    return cv2.filter2D(img, -1, k / k.sum())


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


def make_fer_csv(
    path: str | Path,
    n_images: int = 3500,
    seed: int = 0,
    class_weights: dict[str, float] | None = None,
) -> dict:
    """Write a FER2013-format CSV of synthetic 48x48 gray faces.

    Header ``emotion,pixels,Usage``; ``emotion`` is the FER2013 integer code (0 angry, 1 disgust,
    2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral); ``pixels`` 2304 space-separated 0-255 ints
    (row-major); ``Usage`` Training (~80%), PublicTest (~10%) or PrivateTest (~10%), stratified so
    every class with positive weight appears in every split (rows are grouped by split, as in
    FER2013). ``class_weights``: relative class frequencies over :data:`EMOTIONS` (default
    :data:`FER_CLASS_WEIGHTS`; missing names count 0). Each image is a new random person with a
    random intensity, blend, pose, lighting, blur, noise and JPEG compression, cropped the way the
    video pipeline crops (Haar box, ``crop_face(..., 48, margin=0.1)``; the rendered face box when
    the detector misses).

    Returns ``{"path", "n_images", "counts": {split: {emotion: n}}, "per_class": {emotion: n},
    "per_split": {split: n}, "detector_misses": n}``. Same arguments -> identical file.
    """
    weights_d = FER_CLASS_WEIGHTS if class_weights is None else class_weights
    unknown = set(weights_d) - set(EMOTIONS)
    if unknown:
        raise ValueError(f"unknown emotion(s) in class_weights: {sorted(unknown)}")
    weights = np.array([float(weights_d.get(e, 0.0)) for e in EMOTIONS])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("class_weights must be non-negative with a positive sum")
    per_class = _allocate(int(n_images), weights, len(FER_SPLITS))
    rng = np.random.default_rng(_stable_seed("fer", seed))
    backgrounds = [_make_background(rng, 640, 480) for _ in range(8)]
    jobs: dict[str, list[str]] = {s: [] for s in FER_SPLITS}
    for e, n in zip(EMOTIONS, per_class, strict=True):
        if n == 0:
            continue
        n_pub = max(1, round(0.1 * n))
        n_priv = max(1, round(0.1 * n))
        n_train = n - n_pub - n_priv
        for split, k in zip(FER_SPLITS, (n_train, n_pub, n_priv), strict=True):
            jobs[split].extend([e] * k)
    detector = face_finder(track=False)  # the default detector, as the frames job uses
    counts = {s: dict.fromkeys(EMOTIONS, 0) for s in FER_SPLITS}
    misses = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["emotion", "pixels", "Usage"])
        for split in FER_SPLITS:
            order = rng.permutation(len(jobs[split]))
            for i in order:
                e = jobs[split][i]
                crop, hit = _fer_image(rng, e, backgrounds, detector)
                misses += not hit
                counts[split][e] += 1
                out.writerow([_CODE[e], " ".join(map(str, crop.ravel().tolist())), split])
    tmp.replace(path)
    return {
        "path": str(path),
        "n_images": int(per_class.sum()),
        "counts": counts,
        "per_class": {e: int(n) for e, n in zip(EMOTIONS, per_class, strict=True)},
        "per_split": {s: sum(counts[s].values()) for s in FER_SPLITS},
        "detector_misses": misses,
    }


# --------------------------------------------------------------------------------------------
# participant videos
# --------------------------------------------------------------------------------------------

_VIEWS = ("front", "profile_l", "profile_r", "down")
_LOOKAWAYS = ("turn", "down", "leave")
_OCCLUSIONS = ("eyes", "face", "hands")
_LIGHT_OCCLUSIONS = ("chin", "cheek")


def _wave(
    rng: np.random.Generator, t: np.ndarray, amp: float, f_lo: float, f_hi: float, k: int = 3
):
    """Smooth random signal at times ``t`` (s): a sum of ``k`` sines with frequencies in
    [f_lo, f_hi] Hz whose amplitudes add up to ``amp`` (so |signal| <= amp)."""
    f = rng.uniform(f_lo, f_hi, k)
    ph = rng.uniform(0, 2 * np.pi, k)
    a = rng.uniform(0.3, 1.0, k)
    a = a / a.sum() * amp
    return (a[:, None] * np.sin(2 * np.pi * f[:, None] * t[None] + ph[:, None])).sum(0)


def _mix_for(condition: str, emotion_mix: dict[str, float] | None) -> np.ndarray:
    """Emotion weights (over EMOTIONS, sum 1) for a condition."""
    if emotion_mix is None:
        emotion_mix = DEFAULT_MIXES.get(condition)
    if emotion_mix is None:
        rng = np.random.default_rng(_stable_seed("mix", condition))
        v = rng.dirichlet(np.full(len(EMOTIONS), 0.8)) + 0.02
        return v / v.sum()
    unknown = set(emotion_mix) - set(EMOTIONS)
    if unknown:
        raise ValueError(f"unknown emotion(s) in emotion_mix: {sorted(unknown)}")
    v = np.array([float(emotion_mix.get(e, 0.0)) for e in EMOTIONS])
    if (v < 0).any() or v.sum() <= 0:
        raise ValueError("emotion_mix must be non-negative with a positive sum")
    return v / v.sum()


def _segments(rng: np.random.Generator, n: int, fps: float, mix: np.ndarray):
    """Emotion segments as (first frame, end frame, emotion index, intensity, variant)."""
    segs: list[list] = []
    f0, prev = 0, -1
    while f0 < n:
        p = mix.copy()
        if prev >= 0 and (p > 0).sum() > 1:
            p[prev] = 0.0
        e = int(rng.choice(len(EMOTIONS), p=p / p.sum()))
        d = max(1, round(rng.uniform(2.0, 6.0) * fps))
        intensity = float(rng.uniform(0.5, 1.0))
        variant = float(rng.uniform(0.5, 1.0)) if rng.random() < 0.35 else 0.0
        f1 = min(n, f0 + d)
        if e == prev:  # only possible with a single-emotion mix: extend the segment
            segs[-1][1] = f1
        else:
            segs.append([f0, f1, e, intensity, variant])
        f0, prev = f1, e
    return segs


def _timeline_weights(rng: np.random.Generator, segs, n: int, fps: float):
    """Per-frame emotion weights (n, 7), variant amounts (n, 7) and labels (n,) with blended
    transitions (0.4-1 s) centred on each segment boundary."""
    neutral = EMOTIONS.index("neutral")
    k = len(EMOTIONS)
    vecs, vars_ = [], []
    for _, _, e, a, var in segs:
        v = np.zeros(k)
        v[e] += a
        v[neutral] += 1 - a
        vecs.append(v)
        vv = np.zeros(k)
        vv[e] = var
        vars_.append(vv)
    W = np.zeros((n, k))
    V = np.zeros((n, k))
    labels = np.zeros(n, np.int64)
    for (f0, f1, e, _, _), v, vv in zip(segs, vecs, vars_, strict=True):
        W[f0:f1] = v
        V[f0:f1] = vv
        labels[f0:f1] = e
    for i in range(1, len(segs)):
        kb = segs[i][0]
        h = round(rng.uniform(0.4, 1.0) * fps / 2)
        h = min(h, (segs[i - 1][1] - segs[i - 1][0]) // 2, (segs[i][1] - segs[i][0]) // 2)
        if h < 1:
            continue
        f = np.arange(kb - h, kb + h)
        wn = _smoothstep((f - (kb - h) + 0.5) / (2 * h))[:, None]
        W[f] = (1 - wn) * vecs[i - 1] + wn * vecs[i]
        V[f] = np.maximum(vars_[i - 1], vars_[i])
    t = np.arange(n) / fps
    wobble = 1 + _wave(rng, t, 0.1, 0.1, 0.5)  # intensity fluctuation within a segment
    emo = W.copy()
    emo[:, neutral] = 0
    emo *= wobble[:, None]
    scale = np.minimum(1.0, 1.0 / np.maximum(emo.sum(1), 1e-9))
    emo *= scale[:, None]
    emo[:, neutral] = 1 - emo.sum(1)
    return emo, V, labels


def _count(rng: np.random.Generator, duration: float, lo: float = 10.0, hi: float = 15.0) -> int:
    """About one event per ``lo``-``hi`` seconds."""
    return int(duration / rng.uniform(lo, hi) + rng.random())


def _plan_events(rng: np.random.Generator, n: int, fps: float, duration: float) -> list[dict]:
    """Non-overlapping look-aways, heavy occlusions (both face_visible=0) and light occlusions
    (face_visible=1), at least one look-away in videos of 3 s or more."""
    specs = [
        ("lookaway", max(1 if duration >= 3 else 0, _count(rng, duration)), 0.5, 2.0),
        ("occlusion", _count(rng, duration), 0.3, 1.0),
        ("light_occlusion", _count(rng, duration, 8, 12), 1.0, 3.0),
    ]
    margin, gap = round(0.6 * fps), round(0.8 * fps)
    taken: list[tuple[int, int]] = []
    events: list[dict] = []
    for kind, count, lo, hi in specs:
        for _ in range(count):
            for _attempt in range(100):
                d = max(1, round(rng.uniform(lo, hi) * fps))
                if n - margin - d <= margin:
                    break
                f0 = int(rng.integers(margin, n - margin - d))
                f1 = f0 + d
                if all(f1 + gap <= a or f0 >= b + gap for a, b in taken):
                    taken.append((f0, f1))
                    if kind == "lookaway":
                        sub = str(rng.choice(_LOOKAWAYS, p=[0.5, 0.25, 0.25]))
                    elif kind == "occlusion":
                        sub = str(rng.choice(_OCCLUSIONS, p=[0.3, 0.2, 0.5]))
                    else:
                        sub = str(rng.choice(_LIGHT_OCCLUSIONS))
                    events.append(
                        {
                            "kind": kind,
                            "type": sub,
                            "f0": f0,
                            "f1": f1,
                            "side": int(rng.choice([-1, 1])),
                            "jitter": float(rng.uniform(-1, 1)),
                            "visible": int(kind == "light_occlusion"),
                        }
                    )
                    break
    return sorted(events, key=lambda ev: ev["f0"])


def _hand_poses(ev: dict, ident: Identity) -> list[tuple[float, float, float, float, bool]]:
    """Hands for an occlusion event: (x, y) anchor offset (face units), extra rotation (deg),
    size (face widths) and whether the hand is a fist."""
    sx, j = ev["side"], ev["jitter"]
    b = 0.5 * ident.aspect
    kind = ev["type"]
    if kind == "eyes":  # one hand across the eyes
        return [(sx * 0.24, ident.eye_y - 0.03 + 0.015 * j, sx * (90 + 8 * j), 1.3, False)]
    if kind == "face":  # one hand flat over the middle of the face
        return [(sx * 0.03, ident.nose_y + 0.02, sx * (10 + 6 * j), 1.35, False)]
    if kind == "hands":  # face buried in both hands
        y = ident.nose_y + 0.04
        return [(-0.16, y, -12 + 4 * j, 1.15, False), (0.16, y, 12 + 4 * j, 1.15, False)]
    if kind == "cheek":  # head resting on a hand at the side of the jaw
        return [(sx * 0.5, b - 0.02, sx * (22 + 8 * j), 1.0, False)]
    return [(sx * 0.05, b + 0.16, sx * (8 + 6 * j), 0.85, True)]  # chin on a fist


def _write_annotation(path: Path, labels: np.ndarray, visible: np.ndarray, fps: float) -> int:
    n = len(labels)
    change = np.flatnonzero((np.diff(labels) != 0) | (np.diff(visible) != 0)) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, n]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["start_s", "end_s", "emotion", "face_visible"])
        for k0, k1 in zip(starts, ends, strict=True):
            t0 = 0.0 if k0 == 0 else (k0 - 0.5) / fps
            t1 = n / fps if k1 == n else (k1 - 0.5) / fps
            out.writerow([f"{t0:.4f}", f"{t1:.4f}", EMOTIONS[labels[k0]], int(visible[k0])])
    return len(starts)


def make_session_video(
    video_path: str | Path,
    annotation_path: str | Path,
    participant: str,
    condition: str,
    seed: int = 0,
    duration_s: float = 30.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    emotion_mix: dict[str, float] | None = None,
) -> dict:
    """Write one participant video (mp4, fourcc 'mp4v') and its ground-truth annotation CSV.

    ``participant`` and ``seed`` fix the person (same look in every condition); ``condition``
    picks the emotion mix (:data:`DEFAULT_MIXES`, a mix derived from the name for other names,
    or ``emotion_mix`` = weights over :data:`EMOTIONS`). ``duration_s`` (seconds) and ``fps``
    give ``n_frames = round(duration_s * fps)``; ``size`` = (width, height) pixels.

    Content: emotion segments 2-6 s (no immediate repeat) with 0.4-1 s blended transitions and
    intensity 0.5-1; blinks; smooth head translation, scale and roll (<= 8 deg) with micro-motion;
    lighting drift, a moving side gradient and abrupt steps; short motion/defocus blur episodes;
    sensor noise; hand occlusions and look-aways (face_visible=0, about one of each per 10-15 s)
    and chin-rest poses that leave the face visible.

    Annotation CSV columns ``start_s,end_s,emotion,face_visible``: contiguous intervals covering
    [0, n_frames / fps], a new row whenever the label or visibility changes, boundaries half-way
    between frames; ``emotion`` switches at the midpoint of a blended transition.

    Returns ``{"n_frames", "fps", "duration_s", "size", "visible_fraction", "emotion_seconds":
    {emotion: s}, "n_rows", "events": [{"kind", "type", "start_s", "end_s", "visible"}]}``.
    Same arguments -> identical annotation and identical decoded frames.
    """
    W, H = int(size[0]), int(size[1])
    if fps <= 0 or duration_s <= 0 or W < 64 or H < 64:
        raise ValueError("fps and duration_s must be positive and size at least 64x64")
    n = max(1, round(duration_s * fps))
    duration = n / fps
    rng = np.random.default_rng(_stable_seed("video", seed, participant, condition))
    ident = identity_for(participant, seed)
    mix = _mix_for(condition, emotion_mix)
    t = np.arange(n) / fps
    unit = min(W / 640, H / 480)

    # emotion timeline
    segs = _segments(rng, n, fps, mix)
    emo, variants, labels = _timeline_weights(rng, segs, n, fps)
    rest = np.asarray(ident.rest)
    jitter = np.stack([_wave(rng, t, 0.06, 0.05, 0.4, 2) for _ in _PARAMS], 1)
    # head motion (pixels, degrees)
    width = rng.uniform(100, 124) * unit + _wave(rng, t, 14 * unit, 0.01, 0.05, 2)
    width = np.clip(width, 90 * unit, 140 * unit)
    cx = W / 2 + rng.uniform(-0.05, 0.05) * W + _wave(rng, t, 0.07 * W, 0.02, 0.15)
    cy = H * rng.uniform(0.43, 0.47) + _wave(rng, t, 0.045 * H, 0.02, 0.15)
    cx = cx + _wave(rng, t, 1.2 * unit, 1.0, 4.0) + rng.normal(0, 0.25 * unit, n)
    cy = cy + _wave(rng, t, 1.0 * unit, 1.0, 4.0) + rng.normal(0, 0.25 * unit, n)
    angle = _wave(rng, t, 6.0, 0.03, 0.25) + _wave(rng, t, 0.6, 1.0, 3.0) + rng.normal(0, 0.1, n)
    angle = np.clip(angle, -8, 8)
    gaze = np.stack([_wave(rng, t, 0.6, 0.05, 0.5), _wave(rng, t, 0.4, 0.05, 0.5)], 1)
    blink = np.zeros(n)
    tb = rng.uniform(0.5, 3.0)
    blink_len = max(1, round(0.15 * fps))
    profile = np.sin(np.linspace(0, np.pi, blink_len + 2)[1:-1])
    while tb < duration:
        f = round(tb * fps)
        blink[f : f + blink_len] = profile[: max(0, min(blink_len, n - f))]
        tb += rng.uniform(2.5, 6.0)
    # lighting (gain per frame, side gradient, colour drift), blur episodes, noise
    gain = rng.uniform(0.88, 1.05) * (1 + _wave(rng, t, 0.14, 0.01, 0.06))
    for _ in range(max(1, round(duration / 15)) if duration >= 5 else 0):
        ts = rng.uniform(1.0, duration - 1.0)
        step = rng.uniform(0.75, 0.87) if rng.random() < 0.5 else rng.uniform(1.13, 1.25)
        gain = np.where(t >= ts, gain * step, gain)
    gain = np.clip(gain, 0.65, 1.25)
    grad_s = rng.uniform(-0.1, 0.1) + _wave(rng, t, 0.22, 0.02, 0.08)
    grad_c = 0.5 + _wave(rng, t, 0.3, 0.02, 0.06)
    tint = 1 + np.stack([_wave(rng, t, 0.04, 0.01, 0.04) for _ in range(3)], 1)
    xs = (np.arange(W, dtype=np.float64) + 0.5) / W
    blur_kind = np.full(n, "", dtype=object)
    blur_amt = np.zeros(n)
    blur_ang = np.zeros(n)
    # Frequent, short blur episodes: the per-frame classifier stumbles on them while the
    # frames around them are sharp, so temporal context can recover the emotion.
    for _ in range(_count(rng, duration, 2.5, 4.0)):
        f0 = int(rng.integers(0, n))
        f1 = min(n, f0 + max(1, round(rng.uniform(0.3, 1.0) * fps)))
        if rng.random() < 0.5:
            blur_kind[f0:f1], blur_amt[f0:f1] = "motion", rng.uniform(5, 13) * unit
        else:
            blur_kind[f0:f1], blur_amt[f0:f1] = "defocus", rng.uniform(1.0, 2.2) * unit
        blur_ang[f0:f1] = rng.uniform(0, 180)
    sigma = rng.uniform(2.0, 4.0) / np.sqrt(gain)
    bank = [rng.standard_normal((H + 16, W + 16, 3), dtype=np.float32) for _ in range(2)]
    noise_pick = rng.integers(0, 2, n)
    noise_off = rng.integers(0, 17, (n, 2))
    # events
    events = _plan_events(rng, n, fps, duration)
    view = np.zeros(n, np.int64)
    shift = np.zeros(n)
    occ: list[dict | None] = [None] * n
    visible = np.ones(n, np.int64)
    for ev in events:
        f0, f1 = ev["f0"], ev["f1"]
        visible[f0:f1] = ev["visible"]
        if ev["kind"] != "lookaway":
            for f in range(f0, f1):
                occ[f] = ev
            continue
        if ev["type"] == "down":
            view[f0:f1] = _VIEWS.index("down")
        else:
            view[f0:f1] = _VIEWS.index("profile_l" if ev["side"] < 0 else "profile_r")
        if ev["type"] == "leave":
            d = f1 - f0
            r = max(1, min(round(0.3 * fps), d // 3))
            ramp = np.ones(d)
            ramp[:r] = _smoothstep((np.arange(r) + 1) / r)
            ramp[d - r :] = np.minimum(ramp[d - r :], _smoothstep((d - np.arange(d - r, d)) / r))
            shift[f0:f1] = ev["side"] * (W * 0.5 + 1.6 * width[f0:f1]) * ramp

    bg = _make_background(rng, W, H)
    b_half = 0.5 * ident.aspect
    scale = _internal_scale(float(np.median(width)))
    video_path, annotation_path = Path(video_path), Path(annotation_path)
    video_path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (W, H))
    if not writer.isOpened():
        raise RuntimeError(f"could not open a video writer (mp4v) for {video_path}")
    try:
        for f in range(n):
            frame = bg.copy()
            hx, hy, s = cx[f] + shift[f], cy[f], width[f]
            if abs(shift[f]) < W * 0.5 + 1.5 * s:
                p = _params_for(emo[f], variants[f]) + rest + jitter[f]
                patch, alpha, ox, oy = _render_head(
                    ident, p, scale, tuple(gaze[f]), blink[f], _VIEWS[view[f]]
                )
                _place(frame, patch, alpha, (ox, oy), (hx, hy), s / scale, angle[f])
                bx = W / 2 + 0.6 * (hx - W / 2)
                _draw_body(frame, bx, hy + (b_half + _NECK) * s, s, ident.clothes)
                ev = occ[f]
                if ev is not None:
                    wob = math.sin(2 * math.pi * 0.7 * (f - ev["f0"]) / fps) * 0.015
                    M = cv2.getRotationMatrix2D((0.0, 0.0), angle[f], 1.0)
                    for dx, dy, rot, hs, fist in _hand_poses(ev, ident):
                        ax = hx + (M[0, 0] * (dx + wob) + M[0, 1] * dy) * s
                        ay = hy + (M[1, 0] * (dx + wob) + M[1, 1] * dy) * s
                        hp, ha, hox, hoy = _hand_layers(ident.skin, scale, fist)
                        zoom = hs * s / scale
                        _place(frame, hp, ha, (hox, hoy), (ax, ay), zoom, angle[f] + rot)
            if blur_kind[f]:
                frame = _apply_blur(frame, blur_kind[f], blur_amt[f], blur_ang[f])
            row = (gain[f] * (1 + grad_s[f] * np.tanh((xs - grad_c[f]) / 0.25)))[:, None] * tint[f]
            out = _light(frame, row.astype(np.float32))
            oy_, ox_ = noise_off[f]
            out += bank[noise_pick[f]][oy_ : oy_ + H, ox_ : ox_ + W] * np.float32(sigma[f])
            np.clip(out, 0, 255, out=out)
            writer.write(out.astype(np.uint8))
    finally:
        writer.release()

    n_rows = _write_annotation(annotation_path, labels, visible, fps)
    secs = np.bincount(labels, minlength=len(EMOTIONS)) / fps
    return {
        "n_frames": n,
        "fps": float(fps),
        "duration_s": duration,
        "size": (W, H),
        "visible_fraction": float(visible.mean()),
        "emotion_seconds": {e: float(s) for e, s in zip(EMOTIONS, secs, strict=True)},
        "n_rows": n_rows,
        "events": [
            {
                "kind": ev["kind"],
                "type": ev["type"],
                "start_s": (ev["f0"] - 0.5) / fps,
                "end_s": (ev["f1"] - 0.5) / fps,
                "visible": ev["visible"],
            }
            for ev in events
        ],
    }
