"""Emotion trends over time: smoothing, peak/valley detection and the trend chart.

Inputs are one session's predictions CSV (``time_s, frame_index, face_found, <emotion columns in
study order>, label, cnn_label, cnn_confidence``; emotion columns are probabilities in [0, 1] or
empty where the model made no prediction) and the session's frames HDF5 (``faces`` (T, S, S) uint8
face crops, ``timestamps`` (T,) seconds, ``face_found`` (T,) bool; row i matches CSV row i).

Outputs are a CSV of the smoothed series (:func:`trend_table`) and a PNG chart
(:func:`plot_trends`, about 1540 x 990 px at the default dpi). Chart layout, top to bottom:

* title (participant / condition) and a one-line session summary (duration, frames, % with face);
* a strip of face thumbnails for the annotated peaks (only drawn when there are peaks);
* the main axes: one smoothed curve per emotion in a fixed colour (:func:`emotion_colors`; the
  session's dominant emotions thick, the rest thin), solid where a face was detected and faint
  dotted across no-face gaps (interpolated values); no-face intervals shaded light grey; y is
  probability 0-1, x is time (s); legend (emotions, "no face", peak/valley markers) outside on the
  right;
* a strip of face thumbnails for the annotated valleys (only drawn when there are valleys).

Annotated extrema: peaks (triangle up) and valleys (triangle down) of the session's dominant
emotions (dominant in at least ~0.5 s of face frames), only where a face was detected, the most
prominent first, at most ``n_annotate`` of each kind and never two within
``max(MIN_ANNOTATION_GAP_S, window_s)`` seconds of each other. Each is joined to its thumbnail (the
crop of the nearest frame with a face, with the text ``"happy 0.82 @ 12.4 s"``) by a dotted time
cursor inside the axes and a solid leader outside them; thumbnails keep time order and are pushed
apart only as far as needed not to overlap, so leaders never cross and nothing covers the curves.
A session without any detected face gets the CSV (NaN values) and a chart that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.offsetbox import AnnotationBbox, OffsetImage, TextArea, VPacker
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory
from scipy.signal import find_peaks

from emotiontrack import UserInputError
from emotiontrack.formats import open_faces, read_frames, read_predictions, write_trends
from emotiontrack.series import emotion_colors, estimate_fps, smooth

MIN_ANNOTATION_GAP_S = 2.0
"""Smallest time between two annotated extrema on the chart (seconds)."""

_NO_FACE_COLOR = "#d9d9d9"
_REQUIRED_COLUMNS = ("time_s", "face_found")


# --------------------------------------------------------------------------------------------
# numerics
# --------------------------------------------------------------------------------------------


def _extrema_with_prominence(
    series: np.ndarray, fps: float, prominence: float, min_distance_s: float, valleys: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Peak (or valley) indices of ``series`` and their prominences; NaNs never count as extrema."""
    x = np.asarray(series, dtype=float).ravel()
    finite = np.isfinite(x)
    if finite.sum() < 3:
        return np.array([], dtype=int), np.array([], dtype=float)
    sign = -1.0 if valleys else 1.0
    y = sign * x
    # Replace NaNs by the series minimum so a gap can neither be nor split an extremum's top.
    y = np.where(finite, y, np.nanmin(y))
    distance = max(1, int(round(min_distance_s * fps)))
    idx, props = find_peaks(y, prominence=prominence, distance=distance)
    keep = finite[idx]
    return idx[keep].astype(int), np.asarray(props["prominences"], dtype=float)[keep]


def find_extrema(
    series: np.ndarray, fps: float, prominence: float = 0.1, min_distance_s: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Find peaks and valleys of one probability series.

    Args:
        series: (T,) values (e.g. one smoothed emotion probability); NaN samples are ignored.
        fps: sampling rate (frames per second), used to turn ``min_distance_s`` into samples.
        prominence: minimum prominence of a peak/valley, in the series' units (probability).
        min_distance_s: minimum time between two peaks (and between two valleys), in seconds.

    Returns:
        ``(peaks, valleys)``: sorted int arrays of sample indices, from
        ``scipy.signal.find_peaks`` on ``series`` and on ``-series``.
    """
    peaks, _ = _extrema_with_prominence(series, fps, prominence, min_distance_s, valleys=False)
    valleys, _ = _extrema_with_prominence(series, fps, prominence, min_distance_s, valleys=True)
    return peaks, valleys


def _check_columns(df: pd.DataFrame, emotions: list[str], source: str) -> None:
    missing = [c for c in (*_REQUIRED_COLUMNS, *emotions) if c not in df.columns]
    if missing:
        raise UserInputError(
            f"{source}: missing column(s) {missing}; expected time_s, face_found and one "
            f"probability column per configured emotion {list(emotions)}"
        )


def trend_table(
    predictions: pd.DataFrame, emotions: list[str], window_s: float = 2.0
) -> pd.DataFrame:
    """Smoothed emotion series of one session.

    Args:
        predictions: a session's predictions (columns ``time_s`` (seconds), ``face_found`` (0/1)
            and one probability column per name in ``emotions``; empty/NaN where no prediction).
        emotions: emotion names in study order; they name the probability columns.
        window_s: smoothing window in seconds (see :func:`smooth`); the sampling rate is estimated
            from ``time_s``.

    Returns:
        DataFrame with one row per input row and columns ``time_s``, ``face_found`` (int 0/1),
        one smoothed probability column per emotion (NaN when that emotion has no prediction in
        the whole session), and ``dominant`` (name of the most probable smoothed emotion, ``''``
        where no emotion has a value).
    """
    _check_columns(predictions, emotions, "predictions table")
    time_s = pd.to_numeric(predictions["time_s"], errors="coerce").to_numpy(dtype=float)
    face = (
        pd.to_numeric(predictions["face_found"], errors="coerce").fillna(0).to_numpy(dtype=float)
        > 0
    )
    try:
        raw = (
            predictions[list(emotions)]
            .apply(pd.to_numeric, errors="raise")
            .to_numpy(dtype=float)
            .reshape(len(predictions), len(emotions))
        )
    except (ValueError, TypeError) as exc:
        raise UserInputError(
            f"predictions table: emotion columns must hold numbers or be empty ({exc})"
        ) from exc
    fps = estimate_fps(time_s)
    sm = smooth(raw, fps, window_s=window_s) if len(raw) else raw.copy()
    out = pd.DataFrame({"time_s": time_s, "face_found": face.astype(int)})
    for i, name in enumerate(emotions):
        out[name] = sm[:, i] if len(sm) else np.array([], dtype=float)
    has_value = np.isfinite(sm).any(axis=1) if sm.size else np.zeros(len(out), dtype=bool)
    dominant = np.full(len(out), "", dtype=object)
    if has_value.any():
        best = np.nanargmax(np.where(np.isfinite(sm[has_value]), sm[has_value], -np.inf), axis=1)
        dominant[has_value] = np.asarray(emotions, dtype=object)[best]
    out["dominant"] = dominant
    return out


# --------------------------------------------------------------------------------------------
# reading inputs
# --------------------------------------------------------------------------------------------


@dataclass
class _Frames:
    """Lazy access to a session's face crops."""

    path: Path
    face_found: np.ndarray  # (T,) bool

    def crop(self, i: int) -> np.ndarray:
        with open_faces(self.path) as faces:
            return np.asarray(faces[i])


def _open_frames(path: Path, n_rows: int, predictions_csv: Path) -> _Frames:
    fr = read_frames(path, faces=False)
    assert len(fr.face_found) == n_rows and not fr.copies, (
        f"{path}: has {len(fr.face_found)} frames but {predictions_csv} has {n_rows} rows; both "
        "files must come from the same run of the session"
    )
    return _Frames(path=path, face_found=fr.face_found)


# --------------------------------------------------------------------------------------------
# chart
# --------------------------------------------------------------------------------------------


@dataclass
class _Extremum:
    kind: str  # "peak" | "valley"
    index: int
    emotion: str
    value: float
    prominence: float
    time_s: float
    thumb_index: int = -1


def _no_face_runs(face: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) index pairs of contiguous runs where ``face`` is False."""
    runs = []
    start = None
    for i, f in enumerate(face):
        if not f and start is None:
            start = i
        elif f and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(face) - 1))
    return runs


def _relevant_emotions(table: pd.DataFrame, emotions: list[str], fps: float) -> list[str]:
    """Emotions that are the dominant one in at least ~0.5 s of face frames, most frequent first."""
    dom = table.loc[table["face_found"] > 0, "dominant"]
    dom = dom[dom != ""]
    if dom.empty:
        return []
    counts = dom.value_counts()
    need = max(2, int(round(0.5 * fps)))
    keep = [e for e in counts.index if counts[e] >= need and e in emotions]
    return keep or [counts.index[0]]


def _select_extrema(
    table: pd.DataFrame,
    emotions: list[str],
    face: np.ndarray,
    fps: float,
    n_annotate: int,
    prominence: float,
    min_gap_s: float,
) -> list[_Extremum]:
    """Most prominent peaks/valleys of the session's dominant emotions, spaced >= min_gap_s."""
    if n_annotate <= 0 or not face.any():
        return []
    t = table["time_s"].to_numpy(dtype=float)
    near = max(1, int(round(0.5 * fps)))  # an extremum must lie within 0.5 s of a detected face
    face_idx = np.flatnonzero(face)
    candidates: list[_Extremum] = []
    for name in _relevant_emotions(table, emotions, fps):
        y = table[name].to_numpy(dtype=float)
        for kind in ("peak", "valley"):
            idx, prom = _extrema_with_prominence(
                y, fps, prominence, min_gap_s, valleys=kind == "valley"
            )
            for i, p in zip(idx, prom, strict=True):
                nearest = face_idx[np.argmin(np.abs(face_idx - i))]
                if abs(nearest - i) > near:
                    continue
                candidates.append(_Extremum(kind, int(i), name, float(y[i]), float(p), float(t[i])))
    candidates.sort(key=lambda e: -e.prominence)
    chosen: list[_Extremum] = []
    quota = {"peak": n_annotate, "valley": n_annotate}
    for cand in candidates:
        if quota[cand.kind] == 0:
            continue
        if any(abs(cand.time_s - c.time_s) < min_gap_s for c in chosen):
            continue
        chosen.append(cand)
        quota[cand.kind] -= 1
    return sorted(chosen, key=lambda e: (e.kind, e.time_s))


def _spread(xs: list[float], width: float, lo: float, hi: float) -> list[float]:
    """Move sorted box centres ``xs`` as little as possible so boxes of ``width`` don't overlap
    and stay inside [lo, hi]."""
    if not xs:
        return []
    n = len(xs)
    half = width / 2
    lo_c, hi_c = lo + half, hi - half
    if hi_c - lo_c < width * (n - 1):  # cannot fit: spread evenly
        return list(np.linspace(lo_c, hi_c, n)) if n > 1 else [(lo + hi) / 2]
    pos = [min(max(x, lo_c), hi_c) for x in xs]
    for i in range(1, n):  # push right
        pos[i] = max(pos[i], pos[i - 1] + width)
    pos[-1] = min(pos[-1], hi_c)
    for i in range(n - 2, -1, -1):  # push back left
        pos[i] = min(pos[i], pos[i + 1] - width)
    pos[0] = max(pos[0], lo_c)
    for i in range(1, n):
        pos[i] = max(pos[i], pos[i - 1] + width)
    return pos


def _format_title(title: str, table: pd.DataFrame) -> tuple[str, str]:
    n = len(table)
    n_face = int(table["face_found"].sum()) if n else 0
    t = table["time_s"].to_numpy(dtype=float)
    dur = float(t[-1] - t[0]) if n > 1 else 0.0
    pct = 100.0 * n_face / n if n else 0.0
    sub = f"{dur:.1f} s, {n} frames, face detected in {n_face} ({pct:.0f}%)"
    return (title or "Emotion over time"), sub


@dataclass
class _Layout:
    """Figure geometry in inches (the figure is laid out by hand: thumbnails live outside axes)."""

    fig_w: float = 14.0
    fig_h: float = 9.0  # at the default dpi=110 -> 1540 x 990 px
    left: float = 0.85
    right: float = 2.15  # room for the legend
    title_h: float = 0.8
    pad: float = 0.1
    xlabel_h: float = 0.6  # tick labels + axis label under the main axes
    box_h: float = 1.35  # thumbnail box band
    leader_h: float = 0.3  # band where leader lines fan out from the curves to the thumbnails
    thumb_in: float = 1.0  # face thumbnail edge


def _draw_chart(
    table: pd.DataFrame,
    emotions: list[str],
    chosen: list[_Extremum],
    frames: _Frames | None,
    relevant: list[str],
    title: str,
    out_png: Path,
    dpi: int,
    window_s: float,
) -> None:
    """Render the trend chart (layout: see module docstring) to ``out_png``."""
    colors = emotion_colors(emotions)
    t = table["time_s"].to_numpy(dtype=float)
    face = table["face_found"].to_numpy() > 0
    n = len(t)
    has_face = bool(face.any())
    has_peaks = any(e.kind == "peak" for e in chosen)
    has_valleys = any(e.kind == "valley" for e in chosen)

    lay = _Layout()
    # A bare Figure on the Agg canvas: no pyplot state, no display needed, safe in parallel jobs.
    fig = Figure(figsize=(lay.fig_w, lay.fig_h), dpi=dpi)
    FigureCanvasAgg(fig)
    band = lay.box_h + lay.leader_h
    main_bottom = lay.pad + lay.xlabel_h + (band if has_valleys else 0.0)
    main_top = lay.fig_h - lay.title_h - (band + 0.05 if has_peaks else 0.1)
    ax = fig.add_axes(
        (
            lay.left / lay.fig_w,
            main_bottom / lay.fig_h,
            (lay.fig_w - lay.left - lay.right) / lay.fig_w,
            (main_top - main_bottom) / lay.fig_h,
        )
    )

    # x range: the session, half a sample beyond the first/last row
    dt = 1.0 / estimate_fps(t)
    x0, x1 = (float(t[0]) - dt / 2, float(t[-1]) + dt / 2) if n else (0.0, 1.0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)", fontsize=12)
    ax.set_ylabel("probability", fontsize=12)
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    # no-face intervals
    for a, b in _no_face_runs(face):
        ax.axvspan(
            max(x0, t[a] - dt / 2), min(x1, t[b] + dt / 2), color=_NO_FACE_COLOR, lw=0, zorder=0
        )
    if n == 0:
        ax.axvspan(x0, x1, color=_NO_FACE_COLOR, lw=0, zorder=0)

    # curves: solid where a face was seen, faint dotted across no-face gaps (interpolated values);
    # the session's dominant emotions are drawn thicker than the rest
    seen = face.copy()
    seen[1:] |= face[:-1]  # extend by one sample so solid runs join their dotted neighbours
    seen[:-1] |= face[1:]
    handles: list = []
    for name in emotions:
        y = table[name].to_numpy(dtype=float)
        lw, alpha = (2.4, 1.0) if name in relevant else (1.3, 0.7)
        ax.plot(t, np.where(seen, y, np.nan), color=colors[name], lw=lw, alpha=alpha, zorder=3)
        ax.plot(t, y, color=colors[name], lw=1.0, alpha=0.45, ls=":", zorder=2)
        handles.append(Line2D([], [], color=colors[name], lw=lw, alpha=alpha, label=name))
    handles.append(Patch(facecolor=_NO_FACE_COLOR, edgecolor="none", label="no face"))
    if has_peaks:
        handles.append(Line2D([], [], ls="", marker="^", ms=9, mfc="white", mec="k", label="peak"))
    if has_valleys:
        handles.append(
            Line2D([], [], ls="", marker="v", ms=9, mfc="white", mec="k", label="valley")
        )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=11,
        title="emotion",
        title_fontsize=11,
        alignment="left",
        borderaxespad=0.0,
    )
    ax.text(
        1.01,
        0.0,
        f"Savitzky-Golay smoothing,\n{window_s:g} s window",
        transform=ax.transAxes,
        fontsize=9,
        color="#666666",
        va="bottom",
    )

    head, sub = _format_title(title, table)
    fig.text(lay.left / lay.fig_w, 1 - 0.1 / lay.fig_h, head, fontsize=16, weight="bold", va="top")
    fig.text(
        lay.left / lay.fig_w, 1 - 0.45 / lay.fig_h, sub, fontsize=11, color="#555555", va="top"
    )

    if not has_face:
        ax.text(
            0.5,
            0.5,
            "no face detected in this session",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=20,
            color="#444444",
            bbox={"boxstyle": "round,pad=0.6", "fc": "white", "ec": "#999999"},
            zorder=10,
        )
    else:
        _draw_annotations(fig, ax, lay, chosen, frames, colors, (main_bottom, main_top))

    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=dpi, facecolor="white")


def _draw_annotations(
    fig: Figure,
    ax: Axes,
    lay: _Layout,
    chosen: list[_Extremum],
    frames: _Frames | None,
    colors: dict[str, str],
    main_y: tuple[float, float],
) -> None:
    """Mark extrema on the curves and put their face thumbnails in a band above (peaks) or below
    (valleys) the axes. Each mark gets a leader: dotted vertical line from the mark to the axes edge
    (a time cursor), then a solid segment through the leader band to its thumbnail. Thumbnails keep
    time order and are pushed apart just enough not to overlap, so leaders never cross."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    main_bottom, main_top = main_y
    axes_w_in = lay.fig_w - lay.left - lay.right
    fx = fig.transFigure

    def fig_x(t: float) -> float:  # data time -> figure fraction
        return (lay.left + (t - x0) / (x1 - x0) * axes_w_in) / lay.fig_w

    for kind in ("peak", "valley"):
        items = [e for e in chosen if e.kind == kind]
        if not items:
            continue
        up = kind == "peak"
        # inches from the bottom: where the axes edge is, where the thumbnails' near edge is
        edge_in = main_top if up else main_bottom - lay.xlabel_h
        box_edge_in = edge_in + lay.leader_h if up else edge_in - lay.leader_h
        box_far_in = box_edge_in + lay.box_h if up else box_edge_in - lay.box_h
        fig.text(
            (lay.left - 0.12) / lay.fig_w,
            (box_edge_in + box_far_in) / 2 / lay.fig_h,
            "peaks" if up else "valleys",
            ha="right",
            va="center",
            rotation=90,
            fontsize=11,
            color="#444444",
        )
        labels = [f"{e.emotion} {e.value:.2f} @ {e.time_s:.1f} s" for e in items]
        font = 9.5
        img_in = lay.thumb_in
        text_in = max(len(s) for s in labels) * 0.56 * font / 72  # rough DejaVu Sans width
        box_in = max(img_in, text_in) + 0.15
        scale = min(1.0, 0.98 * axes_w_in / (box_in * 1.05 * len(items)))  # shrink to fit
        img_in, font, box_in = img_in * scale, max(6.0, font * scale), box_in * scale
        width_t = box_in * 1.05 / axes_w_in * (x1 - x0)  # box width + gap in time units
        centres = _spread([e.time_s for e in items], width_t, x0, x1)
        marker = "^" if up else "v"
        for e, label, cx in zip(items, labels, centres, strict=True):
            col = colors[e.emotion]
            ax.plot(e.time_s, e.value, marker=marker, ms=11, mfc=col, mec="k", mew=1.0, zorder=6)
            ax.plot(  # time cursor from the mark to the axes edge
                [e.time_s, e.time_s],
                [e.value, y1 if up else y0],
                color=col,
                lw=1.1,
                ls=(0, (2, 2)),
                alpha=0.8,
                zorder=5,
                clip_on=False,
            )
            # outside the axes: straight on to the leader band, then across to the thumbnail
            px = [fig_x(e.time_s), fig_x(e.time_s), fig_x(cx)]
            py = [edge_in, edge_in, box_edge_in]
            if not up:
                py[0] = main_bottom
            fig.add_artist(
                Line2D(
                    px,
                    [v / lay.fig_h for v in py],
                    transform=fx,
                    color=col,
                    lw=1.1,
                    alpha=0.8,
                    solid_capstyle="round",
                )
            )
            children: list = []
            if frames is not None and e.thumb_index >= 0:
                crop = frames.crop(e.thumb_index)
                zoom = img_in * 72 / max(crop.shape[:2])  # OffsetImage zoom is in points
                children.append(OffsetImage(crop, cmap="gray", norm=Normalize(0, 255), zoom=zoom))
            text = TextArea(label, textprops={"fontsize": font, "color": "#222222"})
            children = [*children, text] if up else [text, *children]
            ab = AnnotationBbox(
                VPacker(children=children, align="center", pad=0, sep=2),
                (cx, box_edge_in / lay.fig_h),
                xycoords=blended_transform_factory(ax.transData, fx),
                box_alignment=(0.5, 0.0) if up else (0.5, 1.0),
                frameon=True,
                pad=0.25,
                bboxprops={"edgecolor": col, "linewidth": 2.0, "facecolor": "white"},
                annotation_clip=False,
                zorder=8,
            )
            fig.add_artist(ab)


def plot_trends(
    predictions_csv: str | Path,
    frames_h5: str | Path,
    out_png: str | Path,
    out_csv: str | Path,
    emotions: list[str],
    *,
    title: str = "",
    window_s: float = 2.0,
    n_annotate: int = 3,
    prominence: float = 0.1,
    dpi: int = 110,
) -> dict:
    """Write a session's smoothed-trend CSV and its trend chart PNG.

    Args:
        predictions_csv: the session's predictions CSV (see module docstring).
        frames_h5: the session's frames HDF5 (face crops, one per CSV row).
        out_png: chart path (PNG, 14 x 9 in; 1540 x 990 px at the default dpi).
        out_csv: smoothed-series CSV path (columns of :func:`trend_table`).
        emotions: emotion names in study order (the probability columns).
        title: chart title, e.g. ``"P07 - stress condition"``.
        window_s: smoothing window in seconds.
        n_annotate: at most this many peaks and this many valleys are marked and annotated with
            a face thumbnail (the most prominent ones of the session's dominant emotions, only
            where a face was seen, at least ``max(2 s, window_s)`` apart); 0 disables them.
        prominence: minimum prominence (probability units) for a peak/valley to be annotated.
        dpi: resolution of the PNG (dots per inch).

    Returns:
        ``{"n_frames", "n_face_frames", "emotions_considered", "peaks", "valleys"}``; peaks and
        valleys are lists (in time order) of dicts ``{"time_s", "emotion", "value", "prominence",
        "row", "frame_index", "thumbnail_row"}``: ``value`` is the smoothed probability at the
        extremum, ``row`` its row in the CSV, ``frame_index`` the video frame of that row, and
        ``thumbnail_row`` the row (nearest one with a detected face) whose crop is shown.

    Raises:
        UserInputError: unreadable/missing inputs, missing columns, or row counts that differ
            between the two files.
    """
    predictions_csv, frames_h5 = Path(predictions_csv), Path(frames_h5)
    out_png, out_csv = Path(out_png), Path(out_csv)
    emotions = list(emotions)
    if not emotions:
        raise UserInputError("plot_trends: the emotion list (config 'emotions') is empty")
    df = read_predictions(predictions_csv, emotions).table()
    frames = _open_frames(frames_h5, len(df), predictions_csv)
    table = trend_table(df, emotions, window_s=window_s)
    write_trends(out_csv, table, emotions)

    face = table["face_found"].to_numpy() > 0
    fps = estimate_fps(table["time_s"].to_numpy(dtype=float))
    relevant = _relevant_emotions(table, emotions, fps) if face.any() else []
    min_gap = max(MIN_ANNOTATION_GAP_S, float(window_s))
    chosen = _select_extrema(table, emotions, face, fps, n_annotate, prominence, min_gap)
    crop_ok = frames.face_found
    crop_idx = np.flatnonzero(crop_ok) if crop_ok.any() else np.flatnonzero(face)
    for e in chosen:
        if crop_idx.size:
            e.thumb_index = int(crop_idx[np.argmin(np.abs(crop_idx - e.index))])

    _draw_chart(table, emotions, chosen, frames, relevant, title, out_png, dpi, window_s)

    video_frame = (
        pd.to_numeric(df["frame_index"], errors="coerce").to_numpy(dtype=float)
        if "frame_index" in df.columns
        else np.arange(len(df), dtype=float)
    )

    def as_dict(e: _Extremum) -> dict:
        fi = video_frame[e.index]
        return {
            "time_s": round(e.time_s, 3),
            "emotion": e.emotion,
            "value": round(e.value, 4),
            "prominence": round(e.prominence, 4),
            "row": e.index,
            "frame_index": int(fi) if np.isfinite(fi) else None,
            "thumbnail_row": e.thumb_index,
        }

    return {
        "n_frames": int(len(table)),
        "n_face_frames": int(face.sum()),
        "emotions_considered": relevant,
        "peaks": [as_dict(e) for e in chosen if e.kind == "peak"],
        "valleys": [as_dict(e) for e in chosen if e.kind == "valley"],
    }


__all__ = ["find_extrema", "plot_trends", "trend_table"]
