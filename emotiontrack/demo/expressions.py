"""The expression model: the emotion names and the facial action parameters each one moves.

An expression is a weight vector over :data:`EMOTIONS`; :func:`_params_for` turns it (and
optional per-emotion variant amounts) into the action parameters (:data:`_PARAMS`) the face
renderer draws.
"""

from __future__ import annotations

import numpy as np

from emotiontrack.labels import FER2013_CODES

EMOTIONS: list[str] = [FER2013_CODES[code] for code in sorted(FER2013_CODES)]

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


def _emotion_weights(weights: dict[str, float], what: str) -> np.ndarray:
    """``weights`` (emotion name -> weight, missing names 0) as an array over :data:`EMOTIONS`;
    ValueError naming ``what`` for unknown names, a negative weight or a zero sum."""
    unknown = set(weights) - set(EMOTIONS)
    if unknown:
        raise ValueError(f"unknown emotion(s) in {what}: {sorted(unknown)}")
    v = np.array([float(weights.get(e, 0.0)) for e in EMOTIONS])
    if (v < 0).any() or v.sum() <= 0:
        raise ValueError(f"{what} must be non-negative with a positive sum")
    return v
