"""Synthetic people: the appearance of one person (:class:`Identity`), drawn from a seed so the
same participant looks the same in every condition, and the stable seeds every generator here
derives its random streams from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from emotiontrack.demo.expressions import _P, _PARAMS

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
