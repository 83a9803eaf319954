"""What happens when in a participant video: the emotion segments of a condition's mix with
blended transitions, the look-aways and occlusions, smooth random signals, and the
ground-truth annotation written from them.

Annotation times: interval boundaries lie half-way between two frames (``(k - 0.5) / fps``), so
the frame at ``t = i / fps`` falls unambiguously inside one ``[start_s, end_s)`` interval; the first
interval starts at 0 and the last ends at ``n_frames / fps``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from emotiontrack.demo.drawing import _smoothstep
from emotiontrack.demo.expressions import EMOTIONS, _emotion_weights
from emotiontrack.demo.identities import _stable_seed

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
    v = _emotion_weights(emotion_mix, "emotion_mix")
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


def _write_annotation(path: Path, labels: np.ndarray, visible: np.ndarray, fps: float) -> int:
    """Write the per-frame ``labels`` (indices into EMOTIONS) and ``visible`` (0/1) as the
    annotation CSV's intervals (see the module docstring); returns the number of rows."""
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
