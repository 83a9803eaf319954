"""Emotion probability series, shared by the trend charts (trends.py) and the study analysis
(study.py): Savitzky-Golay smoothing over NaN gaps, the sampling rate read off the time column,
and the fixed colour of each emotion."""

from __future__ import annotations

import matplotlib
import numpy as np
from scipy.signal import savgol_filter

from emotiontrack.labels import canonical

DEFAULT_FPS = 5.0
"""Sampling rate assumed when it cannot be estimated from ``time_s`` (frames per second)."""


# Fixed, colour-blind-friendly-ish colours for the FER2013 names (plus contempt, used by CK+).
EMOTION_COLORS: dict[str, str] = {
    "angry": "#d62728",  # red
    "disgust": "#2ca02c",  # green
    "fear": "#9467bd",  # purple
    "happy": "#ff9f1c",  # orange
    "sad": "#1f77b4",  # blue
    "surprise": "#e377c2",  # pink
    "neutral": "#4d4d4d",  # dark grey
    "contempt": "#8c564b",  # brown
}

_FALLBACK_COLORS = [
    "#17becf",
    "#bcbd22",
    "#7b4173",
    "#637939",
    "#e7969c",
    "#3182bd",
    "#843c39",
    "#31a354",
    "#fd8d3c",
    "#9e9ac8",
]


def _fill_gaps(col: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaNs of a 1-D series over its index; edges take the nearest value."""
    finite = np.isfinite(col)
    if finite.all() or not finite.any():
        return col.copy()
    idx = np.arange(col.size)
    return np.interp(idx, idx[finite], col[finite])


def _window_length(n: int, fps: float, window_s: float) -> int:
    """Odd Savitzky-Golay window (samples) for ``window_s`` seconds at ``fps``, clipped to ``n``."""
    win = int(round(window_s * fps)) if np.isfinite(window_s * fps) else 1
    win = max(win, 1)
    if win % 2 == 0:
        win += 1
    if win > n:
        win = n if n % 2 == 1 else n - 1
    return max(win, 1)


def smooth(probs: np.ndarray, fps: float, window_s: float = 2.0, polyorder: int = 2) -> np.ndarray:
    """Smooth per-emotion probability series with a Savitzky-Golay filter.

    Args:
        probs: (T, C) probabilities in [0, 1]; rows (or single cells) may be NaN where the model
            made no prediction. A 1-D (T,) array is treated as one column.
        fps: sampling rate of the rows (frames per second); samples are assumed evenly spaced.
        window_s: filter window in seconds; converted to an odd number of samples and clipped to T.
        polyorder: polynomial order of the filter; lowered automatically when the window is too
            short for it. Windows shorter than 3 samples (very short series, tiny ``window_s``)
            leave the gap-filled series unsmoothed.

    Returns:
        (T, C) float array (same shape as ``probs``): NaN gaps filled by linear interpolation over
        time (leading/trailing gaps take the nearest finite value), smoothed, clipped to [0, 1].
        A column with no finite value at all stays all-NaN.
    """
    arr = np.asarray(probs, dtype=float)
    one_d = arr.ndim == 1
    if one_d:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"smooth expects a (T, C) array, got shape {arr.shape}")
    if fps <= 0 or not np.isfinite(fps):
        raise ValueError(f"fps must be a positive number, got {fps}")
    out = np.full(arr.shape, np.nan)
    n = arr.shape[0]
    win = _window_length(n, fps, window_s)
    order = min(max(int(polyorder), 0), win - 1)
    for c in range(arr.shape[1]):
        col = arr[:, c]
        if not np.isfinite(col).any():
            continue
        filled = _fill_gaps(col)
        if win >= 3:
            filled = savgol_filter(filled, window_length=win, polyorder=order, mode="interp")
        out[:, c] = np.clip(filled, 0.0, 1.0)
    return out[:, 0] if one_d else out


def estimate_fps(time_s: np.ndarray) -> float:
    """Frames per second from the median spacing of ``time_s``; DEFAULT_FPS if undeterminable."""
    t = np.asarray(time_s, dtype=float)
    t = t[np.isfinite(t)]
    if t.size < 2:
        return DEFAULT_FPS
    dt = np.diff(t)
    dt = dt[dt > 0]
    if dt.size == 0:
        return DEFAULT_FPS
    return float(1.0 / np.median(dt))


def emotion_colors(emotions: list[str]) -> dict[str, str]:
    """Fixed colour per emotion name.

    FER2013 names (and common synonyms such as ``happiness``) always get the same colour from
    :data:`EMOTION_COLORS`; other names get distinct colours from a qualitative fallback palette,
    in list order.

    Args:
        emotions: emotion names as they appear in the predictions' columns.

    Returns:
        Mapping from each name in ``emotions`` to a hex colour string.
    """
    colors: dict[str, str] = {}
    used = set()
    for name in emotions:
        c = EMOTION_COLORS.get(canonical(name))
        if c is not None and c not in used:
            colors[name] = c
            used.add(c)
    spare = [c for c in _FALLBACK_COLORS if c not in used]
    k = 0
    for name in emotions:
        if name in colors:
            continue
        if k < len(spare):
            colors[name] = spare[k]
        else:  # more than ~18 emotions: cycle through a large qualitative map
            colors[name] = matplotlib.colors.to_hex(matplotlib.colormaps["tab20"](k % 20))
        k += 1
    return colors
