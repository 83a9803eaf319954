"""Tests for emotiontrack.trends: smoothing, extrema, the trend table and the trend chart."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from emotiontrack import UserInputError
from emotiontrack.formats import Frames, write_frames
from emotiontrack.series import EMOTION_COLORS, emotion_colors, smooth
from emotiontrack.trends import find_extrema, plot_trends, trend_table

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FPS = 5.0


# ------------------------------------------------------------------------------------------
# synthetic sessions
# ------------------------------------------------------------------------------------------


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def _write_session(
    tmp_path: Path,
    *,
    duration: float = 60.0,
    episodes: tuple[tuple[str, float, float], ...] = (
        ("happy", 15.0, 4.5),
        ("sad", 40.0, 4.0),
        ("*", 52.0, 1.2),
    ),
    no_face: tuple[tuple[float, float], ...] = ((25.0, 30.0),),
    all_no_face: bool = False,
    crop_value: int | None = None,
    n_frames_h5: int | None = None,
    seed: int = 0,
) -> tuple[Path, Path, pd.DataFrame]:
    """Write a predictions CSV + frames HDF5 of a synthetic session sampled at FPS.

    ``episodes``: (emotion, centre s, logit height) Gaussian bumps (1.5 s wide) over a neutral
    baseline; emotion ``"*"`` raises every non-neutral emotion a little, so neutral dips while no
    single emotion peaks (a valley that no peak explains); ``no_face``: [start, end) intervals
    without a face (no prediction there either).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration, 1.0 / FPS)
    n = t.size
    logit = np.zeros((n, len(EMOTIONS)))
    logit[:, EMOTIONS.index("neutral")] = 2.0
    for name, centre, height in episodes:
        cols = (
            [i for i, e in enumerate(EMOTIONS) if e != "neutral"]
            if name == "*"
            else [EMOTIONS.index(name)]
        )
        logit[:, cols] += height * _bump(t, centre, 1.5)[:, None]
    logit += rng.normal(0.0, 0.15, logit.shape)
    probs = np.exp(logit)
    probs /= probs.sum(axis=1, keepdims=True)
    face = np.ones(n, dtype=bool)
    for a, b in no_face:
        face[(t >= a) & (t < b)] = False
    if all_no_face:
        face[:] = False
    probs[~face] = np.nan

    df = pd.DataFrame(
        {"time_s": t, "frame_index": np.arange(n) * 6, "face_found": face.astype(int)}
    )
    for i, name in enumerate(EMOTIONS):
        df[name] = probs[:, i]
    label = np.array([EMOTIONS[i] for i in np.argmax(np.nan_to_num(probs, nan=-1), axis=1)])
    df["label"] = np.where(face, label, "")
    df["cnn_label"] = df["label"]
    df["cnn_confidence"] = np.nanmax(np.where(face[:, None], probs, 0.0), axis=1)
    csv = tmp_path / "predictions.csv"
    df.to_csv(csv, index=False)

    size = 32
    yy, xx = np.mgrid[0:size, 0:size]
    blob = (255 * np.exp(-((xx - 16) ** 2 + (yy - 14) ** 2) / 120.0)).astype(np.uint8)
    faces = np.zeros((n, size, size), dtype=np.uint8)
    faces[face] = blob if crop_value is None else crop_value
    m = n if n_frames_h5 is None else n_frames_h5
    h5 = tmp_path / "frames.h5"
    fr = Frames(
        timestamps=t[:m],
        face_found=face[:m],
        frame_index=np.arange(m) * 6,
        boxes=np.full((m, 4), -1, np.int32),
        faces=faces[:m],
        attrs={"fps": FPS},
    )
    write_frames(h5, fr)
    return csv, h5, df


# ------------------------------------------------------------------------------------------
# smooth
# ------------------------------------------------------------------------------------------


def test_smooth_reduces_noise_but_keeps_step_level() -> None:
    rng = np.random.default_rng(1)
    n = 300
    clean = np.where(np.arange(n) < 150, 0.2, 0.8)
    noisy = np.clip(clean + rng.normal(0.0, 0.05, n), 0, 1)
    probs = np.column_stack([noisy, 1.0 - noisy])

    out = smooth(probs, fps=FPS, window_s=2.0)

    assert out.shape == probs.shape
    assert np.all((out >= 0) & (out <= 1))
    flat = np.r_[20:135, 165:280]  # away from the step and the edges
    raw_var = np.var(noisy[flat] - clean[flat])
    sm_var = np.var(out[flat, 0] - clean[flat])
    assert sm_var < 0.35 * raw_var
    assert abs(out[20:135, 0].mean() - 0.2) < 0.01
    assert abs(out[165:280, 0].mean() - 0.8) < 0.01
    # a longer window smooths more
    wide = smooth(probs, fps=FPS, window_s=6.0)
    assert np.var(wide[flat, 0] - clean[flat]) < sm_var


def test_smooth_fills_nan_gaps_and_keeps_all_nan_columns() -> None:
    n = 100
    ramp = np.linspace(0.1, 0.9, n)  # a straight line is preserved exactly by polyorder-2 SG
    col = ramp.copy()
    col[40:60] = np.nan
    const = np.full(n, 0.3)
    const[:7] = np.nan  # leading and trailing gaps take the nearest value
    const[-5:] = np.nan
    probs = np.column_stack([col, const, np.full(n, np.nan)])

    out = smooth(probs, fps=FPS, window_s=2.0)

    assert np.all(np.isfinite(out[:, :2]))
    np.testing.assert_allclose(out[40:60, 0], ramp[40:60], atol=1e-9)
    np.testing.assert_allclose(out[:, 1], 0.3, atol=1e-9)
    assert np.all(np.isnan(out[:, 2]))


def test_smooth_short_series_and_1d_input() -> None:
    for n in (1, 2, 3, 4):
        x = np.linspace(0.2, 0.6, n)[:, None]
        out = smooth(x, fps=FPS, window_s=10.0)
        assert out.shape == (n, 1)
        assert np.all(np.isfinite(out))
    one_d = smooth(np.array([0.1, np.nan, 0.5, 0.5, 0.5]), fps=FPS, window_s=0.2)
    assert one_d.shape == (5,)
    assert one_d[1] == pytest.approx(0.3)  # window < 3 samples: gap filled, otherwise unchanged
    with pytest.raises(ValueError):
        smooth(np.zeros((5, 2)), fps=0.0)


def test_smooth_clips_to_unit_interval() -> None:
    x = np.zeros(50)
    x[25] = 1.0  # a spike makes SG undershoot below 0 next to it
    out = smooth(x, fps=FPS, window_s=1.4)
    assert out.min() >= 0.0 and out.max() <= 1.0


# ------------------------------------------------------------------------------------------
# find_extrema
# ------------------------------------------------------------------------------------------


def test_find_extrema_at_known_positions() -> None:
    t = np.arange(0.0, 60.0, 1.0 / FPS)
    series = 0.3 + 0.5 * (_bump(t, 10, 1.5) + _bump(t, 30, 1.5) + _bump(t, 50, 1.5))
    series -= 0.25 * (_bump(t, 20, 1.5) + _bump(t, 40, 1.5))
    series += 0.03 * _bump(t, 45, 0.5)  # too small to count at prominence 0.1

    peaks, valleys = find_extrema(series, fps=FPS, prominence=0.1, min_distance_s=2.0)

    np.testing.assert_allclose(peaks, [50, 150, 250], atol=1)
    np.testing.assert_allclose(valleys, [100, 200], atol=1)
    # lowering the threshold admits the small bump and the dips beside it
    peaks_low, _ = find_extrema(series, fps=FPS, prominence=0.01)
    assert any(abs(p - 225) <= 1 for p in peaks_low)


def test_find_extrema_min_distance_and_nan() -> None:
    t = np.arange(0.0, 20.0, 1.0 / FPS)
    series = 0.2 + 0.6 * _bump(t, 8.0, 0.3) + 0.5 * _bump(t, 9.2, 0.3)
    far, _ = find_extrema(series, fps=FPS, min_distance_s=2.0)
    near, _ = find_extrema(series, fps=FPS, min_distance_s=0.5)
    assert list(far) == [40]  # the taller of two peaks 1.2 s apart
    np.testing.assert_allclose(near, [40, 46], atol=1)

    gappy = series.copy()
    gappy[44:50] = np.nan  # the second bump falls in a gap
    peaks, valleys = find_extrema(gappy, fps=FPS, min_distance_s=0.5)
    assert list(peaks) == [40]
    assert not any(44 <= v < 50 for v in valleys)
    assert all(p.size == 0 for p in find_extrema(np.full(30, np.nan), fps=FPS))


# ------------------------------------------------------------------------------------------
# trend_table
# ------------------------------------------------------------------------------------------


def test_trend_table_columns_rows_and_dominant(tmp_path: Path) -> None:
    _, _, df = _write_session(tmp_path)
    table = trend_table(df, EMOTIONS, window_s=2.0)

    assert list(table.columns) == ["time_s", "face_found", *EMOTIONS, "dominant"]
    assert len(table) == len(df)
    np.testing.assert_allclose(table["time_s"], df["time_s"])
    assert table["face_found"].tolist() == df["face_found"].tolist()
    probs = table[EMOTIONS].to_numpy()
    assert np.all(np.isfinite(probs)) and probs.min() >= 0 and probs.max() <= 1
    row = lambda s: int(round(s * FPS))  # noqa: E731
    assert table["dominant"].iloc[row(15.0)] == "happy"
    assert table["dominant"].iloc[row(40.0)] == "sad"
    assert table["dominant"].iloc[row(5.0)] == "neutral"
    # smoothed, not raw: the noisy raw series wiggles more than the table's
    raw = df["neutral"].to_numpy()
    ok = np.isfinite(raw)
    assert np.std(np.diff(table["neutral"].to_numpy()[ok])) < 0.6 * np.std(np.diff(raw[ok]))


def test_trend_table_without_predictions_has_empty_dominant() -> None:
    df = pd.DataFrame({"time_s": np.arange(10) / FPS, "face_found": 0})
    for name in EMOTIONS:
        df[name] = np.nan
    table = trend_table(df, EMOTIONS)
    assert table[EMOTIONS].isna().all().all()
    assert (table["dominant"] == "").all()


def test_trend_table_missing_column_is_user_error() -> None:
    df = pd.DataFrame({"time_s": [0.0, 0.2], "face_found": [1, 1], "happy": [0.5, 0.5]})
    with pytest.raises(UserInputError, match="sad"):
        trend_table(df, ["happy", "sad"])


# ------------------------------------------------------------------------------------------
# plot_trends
# ------------------------------------------------------------------------------------------


def _count_dark_squares(png: np.ndarray, rows: slice, size: int = 60) -> int:
    """Number of separate solid-black blocks at least ``size`` px wide and tall within ``rows``."""
    dark = (png[rows, :, :3].max(axis=2) < 0.05).astype(int)
    integral = np.pad(dark.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    full = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    ) == size * size
    cols = np.flatnonzero(full.any(axis=0))
    return 0 if cols.size == 0 else int(1 + np.sum(np.diff(cols) > 1))


def test_plot_trends_writes_csv_png_and_summary(tmp_path: Path) -> None:
    csv, h5, df = _write_session(tmp_path)
    out_png, out_csv = tmp_path / "out" / "trend.png", tmp_path / "out" / "trend.csv"

    summary = plot_trends(csv, h5, out_png, out_csv, EMOTIONS, title="P01 / baseline")

    table = pd.read_csv(out_csv, keep_default_na=False, na_values=[""])
    assert list(table.columns) == ["time_s", "face_found", *EMOTIONS, "dominant"]
    assert len(table) == len(df) == summary["n_frames"]
    assert summary["n_face_frames"] == int(df["face_found"].sum())

    img = mpimg.imread(out_png)
    assert img.ndim == 3 and img.shape[1] >= 1000 and img.shape[0] >= 500
    assert img[..., :3].std() > 0.05  # not a blank canvas

    peaks = summary["peaks"]
    assert 1 <= len(peaks) <= 3
    by_emotion = {p["emotion"]: p for p in peaks}
    assert abs(by_emotion["happy"]["time_s"] - 15.0) <= 1.0
    assert abs(by_emotion["sad"]["time_s"] - 40.0) <= 1.0
    assert by_emotion["happy"]["value"] > 0.5
    valleys = summary["valleys"]
    assert [v["emotion"] for v in valleys] == ["neutral"]
    assert abs(valleys[0]["time_s"] - 52.0) <= 1.0
    assert valleys[0]["value"] < 0.45
    ann = peaks + valleys
    times = sorted(a["time_s"] for a in ann)
    assert all(b - a >= 2.0 for a, b in zip(times, times[1:], strict=False))  # no clutter
    face = df["face_found"].to_numpy().astype(bool)
    for a in ann:
        assert face[a["thumbnail_row"]]
        assert not 25.5 <= a["time_s"] < 29.5  # nothing annotated inside the no-face gap
        assert a["frame_index"] == df["frame_index"].iloc[a["row"]]


def test_plot_trends_thumbnails_sit_above_and_below_the_axes(tmp_path: Path) -> None:
    # all-black face crops make the thumbnails easy to find in the rendered image
    csv, h5, _ = _write_session(tmp_path, crop_value=0)
    png_on, png_off = tmp_path / "on.png", tmp_path / "off.png"
    s_on = plot_trends(csv, h5, png_on, tmp_path / "on.csv", EMOTIONS, n_annotate=2)
    s_off = plot_trends(csv, h5, png_off, tmp_path / "off.csv", EMOTIONS, n_annotate=0)
    assert len(s_on["peaks"]) == 2 and len(s_on["valleys"]) == 1
    assert s_off["peaks"] == [] and s_off["valleys"] == []

    on, off = mpimg.imread(png_on), mpimg.imread(png_off)
    h = on.shape[0]
    top, bottom = slice(0, h // 3), slice(2 * h // 3, h)
    assert _count_dark_squares(on, top) == 2  # two black face thumbnails in the strip above
    assert _count_dark_squares(on, bottom) == 1  # one in the strip below
    assert _count_dark_squares(off, slice(0, h)) == 0


def test_plot_trends_ignores_extrema_where_no_face_was_seen(tmp_path: Path) -> None:
    # the model emitted (garbage) predictions on frames without a face: a big "happy" spike
    csv, h5, df = _write_session(tmp_path)
    gap = df["face_found"] == 0
    df.loc[gap, EMOTIONS] = 0.05 / 6
    df.loc[gap, "happy"] = 0.95
    df.to_csv(csv, index=False)

    summary = plot_trends(csv, h5, tmp_path / "g.png", tmp_path / "g.csv", EMOTIONS)

    table = pd.read_csv(tmp_path / "g.csv")
    assert table.loc[gap, "happy"].max() > 0.9  # the spike is in the smoothed series ...
    for a in summary["peaks"] + summary["valleys"]:  # ... but is never annotated
        assert not 24.5 <= a["time_s"] < 30.5
    assert abs({p["emotion"]: p for p in summary["peaks"]}["happy"]["time_s"] - 15.0) <= 1.0


def test_plot_trends_no_face_session(tmp_path: Path) -> None:
    csv, h5, df = _write_session(tmp_path, all_no_face=True)
    out_png, out_csv = tmp_path / "nf.png", tmp_path / "nf.csv"

    summary = plot_trends(csv, h5, out_png, out_csv, EMOTIONS, title="P02")

    assert summary["n_frames"] == len(df)
    assert summary["n_face_frames"] == 0
    assert summary["peaks"] == [] and summary["valleys"] == []
    table = pd.read_csv(out_csv)
    assert list(table.columns) == ["time_s", "face_found", *EMOTIONS, "dominant"]
    assert len(table) == len(df)
    assert table[EMOTIONS].isna().all().all()
    assert table["dominant"].isna().all()  # '' in the CSV
    img = mpimg.imread(out_png)
    assert img.shape[1] >= 1000 and img.shape[0] >= 500


def test_plot_trends_rejects_mismatched_frames(tmp_path: Path) -> None:
    csv, h5, df = _write_session(tmp_path, n_frames_h5=100)
    with pytest.raises(AssertionError) as err:
        plot_trends(csv, h5, tmp_path / "x.png", tmp_path / "x.csv", EMOTIONS)
    assert "frames.h5" in str(err.value) and "predictions.csv" in str(err.value)
    assert not (tmp_path / "x.png").exists()


def test_plot_trends_missing_emotion_column(tmp_path: Path) -> None:
    csv, h5, df = _write_session(tmp_path)
    df.drop(columns=["fear"]).to_csv(csv, index=False)
    with pytest.raises(AssertionError, match=r"predictions\.csv.*fear"):
        plot_trends(csv, h5, tmp_path / "x.png", tmp_path / "x.csv", EMOTIONS)


def test_emotion_colors_fixed_and_distinct() -> None:
    a = emotion_colors(EMOTIONS)
    b = emotion_colors(list(reversed(EMOTIONS)))
    assert a == b == {e: EMOTION_COLORS[e] for e in EMOTIONS}
    assert len(set(a.values())) == len(EMOTIONS)
    custom = emotion_colors(["happy", "calm", "bored", "Anger"])
    assert custom["happy"] == EMOTION_COLORS["happy"]
    assert custom["Anger"] == EMOTION_COLORS["angry"]
    assert len(set(custom.values())) == 4
