"""Study-level answers: does emotion differ between conditions, for whom, and when?

Two steps, each one function a workflow script calls:

* :func:`summarise_sessions` reads every selected session's emotion timeline (the workflow's
  default predictions, or the per-frame CNN's probabilities) and writes three tidy CSV tables:
  ``session_summary.csv`` (one row per session x emotion: coverage, mean probability, share of
  time dominant, episodes, onset latency, peak), ``transitions.csv`` (one row per session x
  ordered pair of emotions: how often one dominant episode is followed by the other) and
  ``curves.csv`` (one row per session x time bin x emotion: the mean probability in the bin).
* :func:`compare_conditions` reads those tables back (:func:`read_table`) and, for every pair of
  conditions and every emotion x measure, tests the difference: within participants (paired
  Wilcoxon signed-rank and paired t) where participants were recorded in both conditions,
  between participants (Mann-Whitney U and Welch's t) otherwise, with bootstrap confidence
  intervals of the mean difference and of the standardised effect, and Benjamini-Hochberg
  q-values over all tests of one pair of conditions. It writes ``conditions.csv``,
  ``conditions.md`` and three figures.

Every table is plain CSV (comma, header row, ``.`` decimals, empty cell = missing) that loads
with ``pandas.read_csv`` or R's ``read.csv``. Times are seconds from the start of the video,
probabilities and shares are in [0, 1].
"""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from scipy import stats

from . import UserInputError
from .formats import read_features, read_predictions
from .series import emotion_colors, estimate_fps, smooth

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)

TIMELINES = {
    "predictions": "the workflow's default predictions (results/predictions: probability "
    "columns and label)",
    "cnn": "the per-frame CNN (results/features: probabilities; argmax as the label)",
}

MEASURES: dict[str, str] = {
    "mean_probability": "mean probability over the analysed frames",
    "dominance": "share of the analysed time in which the emotion is the label",
    "episodes": "number of episodes (runs of dominance at least min_episode_s long)",
    "episode_mean_s": "mean episode length (s)",
    "onset_latency_s": "time from the start of the video to the first episode (s)",
    "peak_probability": "highest smoothed probability",
}
"""The measures compared between conditions (each a column of session_summary.csv)."""

BASELINE_MEASURES = ("mean_probability", "dominance")
"""Measures that get a ``<measure>_vs_baseline`` column when a baseline condition is set."""

SUMMARY_COLUMNS = [
    "session",
    "participant",
    "condition",
    "split",
    "timeline",
    "emotion",
    "n_frames",
    "seconds_analysed",
    "face_coverage",
    "mean_probability",
    "dominance",
    "episodes",
    "episode_mean_s",
    "onset_latency_s",
    "peak_probability",
    "peak_time_s",
]
TRANSITION_COLUMNS = [
    "session",
    "participant",
    "condition",
    "timeline",
    "from_emotion",
    "to_emotion",
    "count",
    "per_minute",
]
CURVE_COLUMNS = ["session", "participant", "condition", "timeline", "emotion", "time_s", "mean"]
CONDITION_COLUMNS = [
    "comparison",
    "condition_a",
    "condition_b",
    "measure",
    "emotion",
    "design",
    "n_a",
    "n_b",
    "n_paired",
    "mean_a",
    "mean_b",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "effect_size",
    "effect_size_type",
    "effect_ci_low",
    "effect_ci_high",
    "test",
    "p",
    "q",
    "t_test",
    "p_t",
    "q_t",
    "significant",
    "timeline",
    "note",
]


# --------------------------------------------------------------------------------------------
# one session's timeline
# --------------------------------------------------------------------------------------------


def read_timeline(session: dict, emotions: list[str], timeline: str) -> dict:
    """One session's emotion timeline.

    Args:
        session: ``{"predictions": csv}`` for ``timeline="predictions"``, ``{"features": h5}`` for
            ``timeline="cnn"``.
        emotions: emotion names in study order.
        timeline: a key of :data:`TIMELINES`.

    Returns:
        ``{"time_s" (T,), "face_found" (T,) bool, "probabilities" (T, C) with NaN rows where
        there is no prediction, "label" (T,) int emotion index or -1, "fps"}``.
    """
    if timeline == "predictions":
        p = read_predictions(session["predictions"], emotions)
        probs, time, face = p.probabilities, p.time_s, p.face_found
        # the workflow's decision, whichever method made it
        index = {e: i for i, e in enumerate(emotions)}
        label = np.array([index.get(v, -1) for v in p.label], dtype=int)
        fps = estimate_fps(time)
    elif timeline == "cnn":
        f = read_features(session["features"], emotions)
        probs, time, face, fps = (
            f.probabilities.astype(np.float64),
            f.timestamps,
            f.face_found,
            f.fps,
        )
        label = _argmax(probs)
    else:
        raise UserInputError(f"study.timeline {timeline!r}: expected one of {list(TIMELINES)}")
    label = np.where(np.isfinite(probs).all(axis=1), label, -1)
    return {"time_s": time, "face_found": face, "probabilities": probs, "label": label, "fps": fps}


def _argmax(probs: np.ndarray) -> np.ndarray:
    ok = np.isfinite(probs).all(axis=1)
    out = np.full(len(probs), -1, dtype=int)
    if ok.any():
        out[ok] = np.argmax(probs[ok], axis=1)
    return out


def _runs(label: np.ndarray) -> list[tuple[int, int, int]]:
    """(value, first index, end index) of every run of equal values."""
    if label.size == 0:
        return []
    cut = np.flatnonzero(np.diff(label)) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut, label.size]
    return [(int(label[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def episodes_of(label: np.ndarray, fps: float, min_episode_s: float) -> list[tuple[int, int, int]]:
    """Episodes: runs of one dominant emotion (``label`` >= 0) lasting at least ``min_episode_s``
    seconds (``n_frames / fps``), as (emotion index, first frame, end frame)."""
    need = max(1, math.ceil(min_episode_s * fps - 1e-9))
    return [(v, a, b) for v, a, b in _runs(label) if v >= 0 and b - a >= need]


def session_measures(
    tl: dict, emotions: list[str], *, min_episode_s: float = 1.0, window_s: float = 2.0
) -> list[dict]:
    """The per-emotion measures of one timeline (:func:`read_timeline`); one dict per emotion with
    the keys of :data:`SUMMARY_COLUMNS` from ``n_frames`` on. Frames with a prediction are
    analysed; seconds are frames / fps. The peak is the highest value of the probability smoothed
    as the trend charts smooth it (``window_s``), among analysed frames."""
    probs, label, fps, time = tl["probabilities"], tl["label"], tl["fps"], tl["time_s"]
    n = len(label)
    analysed = label >= 0
    n_an = int(analysed.sum())
    eps = episodes_of(label, fps, min_episode_s)
    smoothed = smooth(probs, fps, window_s=window_s) if n_an else probs
    rows = []
    for i, emotion in enumerate(emotions):
        mine = [(a, b) for v, a, b in eps if v == i]
        row = {
            "emotion": emotion,
            "n_frames": n,
            "seconds_analysed": n_an / fps,
            "face_coverage": float(np.mean(tl["face_found"])) if n else math.nan,
            "mean_probability": float(np.mean(probs[analysed, i])) if n_an else math.nan,
            "dominance": float(np.mean(label[analysed] == i)) if n_an else math.nan,
            "episodes": len(mine) if n_an else math.nan,
            "episode_mean_s": float(np.mean([b - a for a, b in mine]) / fps) if mine else math.nan,
            "onset_latency_s": float(time[mine[0][0]]) if mine else math.nan,
            "peak_probability": math.nan,
            "peak_time_s": math.nan,
        }
        if n_an:
            s = np.where(analysed, smoothed[:, i], -np.inf)
            k = int(np.argmax(s))
            row["peak_probability"], row["peak_time_s"] = float(smoothed[k, i]), float(time[k])
        rows.append(row)
    return rows


def session_transitions(tl: dict, emotions: list[str], *, min_episode_s: float = 1.0) -> dict:
    """Transitions between dominant emotions: consecutive episodes (shorter runs skipped) of
    different emotions; ``{(from, to): count}`` over every ordered pair of distinct emotions."""
    counts = {(a, b): 0 for a in emotions for b in emotions if a != b}
    seq = [v for v, _, _ in episodes_of(tl["label"], tl["fps"], min_episode_s)]
    for prev, nxt in itertools.pairwise(seq):
        if prev != nxt:
            counts[(emotions[prev], emotions[nxt])] += 1
    return counts


def session_curve(tl: dict, emotions: list[str], bin_s: float) -> pd.DataFrame:
    """Mean probability per emotion in time bins of ``bin_s`` seconds (bin start times), over
    the frames with a prediction; bins without one are left out."""
    time, probs = tl["time_s"], tl["probabilities"]
    ok = tl["label"] >= 0
    if not ok.any():
        return pd.DataFrame(columns=["emotion", "time_s", "mean"])
    b = np.floor(time[ok] / bin_s + 1e-9) * bin_s
    df = pd.DataFrame(probs[ok], columns=emotions)
    df["time_s"] = np.round(b, 6)
    means = df.groupby("time_s").mean().reset_index()
    return means.melt(id_vars="time_s", var_name="emotion", value_name="mean")[
        ["emotion", "time_s", "mean"]
    ]


# --------------------------------------------------------------------------------------------
# the study tables: one writer and one reader
# --------------------------------------------------------------------------------------------


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a study table as plain CSV (no index, empty cell = missing)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format="%.6g")


def read_table(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """Read a study table written by :func:`write_table`, checking it has ``columns``."""
    p = Path(path)
    try:
        df = pd.read_csv(p, keep_default_na=True, na_values=[""])
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        raise UserInputError(f"{p}: cannot read study table ({e})") from e
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserInputError(f"{p}: missing column(s) {missing}")
    for c in ("session", "participant", "condition", "emotion"):
        if c in df.columns:
            df[c] = df[c].astype(str)
    return df


def summarise_sessions(
    sessions: list[dict],
    emotions: list[str],
    out_summary: str | Path,
    out_transitions: str | Path,
    out_curves: str | Path,
    *,
    timeline: str = "predictions",
    min_episode_s: float = 1.0,
    window_s: float = 2.0,
    bin_s: float = 1.0,
    baseline_condition: str = "",
) -> pd.DataFrame:
    """Per-session tables of the selected sessions.

    Args:
        sessions: dicts with ``session``, ``participant``, ``condition``, ``split`` and the
            timeline's file (``predictions`` csv or ``features`` h5, see :func:`read_timeline`).
        emotions: emotion names in study order.
        out_summary, out_transitions, out_curves: the CSV tables (module docstring).
        timeline: ``predictions`` or ``cnn``.
        min_episode_s: shortest run of dominance that counts as an episode (seconds).
        window_s: smoothing window for the peak (seconds).
        bin_s: time bin of the curves (seconds).
        baseline_condition: if set, ``<measure>_vs_baseline`` columns (for
            :data:`BASELINE_MEASURES`) hold each session's value minus the same participant's
            value in this condition (missing when the participant has no such session).

    Returns:
        The session summary table.
    """
    if not sessions:
        raise UserInputError("study: no sessions selected (config study.sessions)")
    summary, transitions, curves = [], [], []
    for s in sessions:
        tl = read_timeline(s, emotions, timeline)
        ident = {
            "session": s["session"],
            "participant": s["participant"],
            "condition": s["condition"],
        }
        for row in session_measures(tl, emotions, min_episode_s=min_episode_s, window_s=window_s):
            summary.append({**ident, "split": s["split"], "timeline": timeline, **row})
        minutes = (tl["label"] >= 0).sum() / tl["fps"] / 60
        for (a, b), c in session_transitions(tl, emotions, min_episode_s=min_episode_s).items():
            per_min = c / minutes if minutes > 0 else math.nan
            transitions.append(
                {**ident, "timeline": timeline, "from_emotion": a, "to_emotion": b}
                | {"count": c, "per_minute": per_min}
            )
        curve = session_curve(tl, emotions, bin_s)
        for k, v in {**ident, "timeline": timeline}.items():
            curve[k] = v
        curves.append(curve[CURVE_COLUMNS])
        log.info(
            "%s: %d frames, %d analysed", s["session"], len(tl["label"]), (tl["label"] >= 0).sum()
        )
    table = pd.DataFrame(summary, columns=SUMMARY_COLUMNS)
    if baseline_condition:
        table = _baseline_corrected(table, baseline_condition)
    write_table(table, out_summary)
    write_table(pd.DataFrame(transitions, columns=TRANSITION_COLUMNS), out_transitions)
    write_table(pd.concat(curves, ignore_index=True), out_curves)
    return table


def _baseline_corrected(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    base = table[table["condition"] == baseline].set_index(["participant", "emotion"])
    key = pd.MultiIndex.from_frame(table[["participant", "emotion"]])
    out = table.copy()
    for m in BASELINE_MEASURES:
        out[f"{m}_vs_baseline"] = table[m].to_numpy() - base[m].reindex(key).to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# condition comparisons
# --------------------------------------------------------------------------------------------


def _bootstrap(rng: np.random.Generator, n_boot: int, *samples: np.ndarray, stat) -> np.ndarray:
    """``stat`` over ``n_boot`` resamples (each sample resampled with replacement on its own)."""
    out = np.empty(n_boot)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(n_boot):
            out[k] = stat(*(x[rng.integers(0, len(x), len(x))] for x in samples))
    return out


def _ci(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size < 10:
        return math.nan, math.nan
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


def _dz(d: np.ndarray) -> float:
    sd = np.std(d, ddof=1)
    return float(np.mean(d) / sd) if sd > 0 else math.nan


def _hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = len(a), len(b)
    pooled = ((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2)
    if not pooled > 0:
        return math.nan
    return float((np.mean(b) - np.mean(a)) / math.sqrt(pooled) * (1 - 3 / (4 * (na + nb) - 9)))


def _test_pair(
    va: pd.Series, vb: pd.Series, min_n: int, n_boot: int, rng: np.random.Generator
) -> dict:
    """Tests of one emotion x measure between two conditions; ``va``/``vb`` are indexed by
    participant (finite values only)."""
    paired = va.index.intersection(vb.index)
    only_a = va.drop(paired)
    only_b = vb.drop(paired)
    r: dict = {"n_a": len(va), "n_b": len(vb), "n_paired": len(paired)}
    r |= {"mean_a": float(va.mean()) if len(va) else math.nan}
    r |= {"mean_b": float(vb.mean()) if len(vb) else math.nan}
    if len(paired) >= min_n:
        a, b = va[paired].to_numpy(float), vb[paired].to_numpy(float)
        d = b - a
        r |= {"design": "within", "test": "Wilcoxon signed-rank", "t_test": "paired t"}
        r |= {"effect_size_type": "Cohen's dz"}
        r["difference"], r["effect_size"] = float(d.mean()), _dz(d)
        r["p"] = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
        r["p_t"] = float(stats.ttest_rel(b, a).pvalue) if np.std(d) > 0 else math.nan
        r["difference_ci_low"], r["difference_ci_high"] = _ci(
            _bootstrap(rng, n_boot, d, stat=np.mean)
        )
        r["effect_ci_low"], r["effect_ci_high"] = _ci(_bootstrap(rng, n_boot, d, stat=_dz))
        if len(only_a) + len(only_b):
            r["note"] = (
                f"{len(only_a) + len(only_b)} participant(s) in one condition only: not in "
                "this paired test"
            )
        return r
    if len(only_a) >= min_n and len(only_b) >= min_n:
        a, b = only_a.to_numpy(float), only_b.to_numpy(float)
        r |= {"design": "between", "test": "Mann-Whitney U", "t_test": "Welch t"}
        r |= {"effect_size_type": "Hedges' g"}
        r["difference"], r["effect_size"] = float(b.mean() - a.mean()), _hedges_g(a, b)
        r["p"] = float(stats.mannwhitneyu(b, a).pvalue)
        both = np.concatenate([a, b])
        r["p_t"] = (
            float(stats.ttest_ind(b, a, equal_var=False).pvalue)
            if np.std(a) + np.std(b) > 0
            else (1.0 if np.ptp(both) == 0 else math.nan)
        )
        r["difference_ci_low"], r["difference_ci_high"] = _ci(
            _bootstrap(rng, n_boot, a, b, stat=lambda x, y: y.mean() - x.mean())
        )
        r["effect_ci_low"], r["effect_ci_high"] = _ci(_bootstrap(rng, n_boot, a, b, stat=_hedges_g))
        if len(paired):
            r["note"] = f"{len(paired)} paired participant(s) (fewer than {min_n}) left out"
        return r
    r |= {
        "design": "none",
        "difference": float(vb.mean() - va.mean()) if len(va) and len(vb) else math.nan,
    }
    r["note"] = (
        f"n too small to test: {len(paired)} participant(s) in both conditions, "
        f"{len(only_a)} and {len(only_b)} in one only; at least {min_n} needed"
    )
    return r


def _bh(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg q-values over the finite p-values of ``p`` (NaN stays NaN)."""
    q = pd.Series(math.nan, index=p.index)
    ok = p.notna()
    if ok.any():
        q[ok] = stats.false_discovery_control(p[ok].to_numpy(float), method="bh")
    return q


def condition_pairs(conditions: list[str], baseline: str = "") -> list[tuple[str, str]]:
    """Every pair of conditions in the given order (the baseline condition left out when set)."""
    conds = [c for c in conditions if c != baseline] if baseline else list(conditions)
    return list(itertools.combinations(conds, 2))


def condition_table(
    summary: pd.DataFrame,
    emotions: list[str],
    conditions: list[str],
    *,
    baseline_condition: str = "",
    min_participants: int = 5,
    n_bootstrap: int = 2000,
    q_level: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Every emotion x measure (:data:`MEASURES`) tested for every pair of conditions.

    ``difference`` is mean(b) - mean(a) (within: the mean of the participants' b - a), with a 95%
    percentile bootstrap interval (``n_bootstrap`` resamples of participants, seeded); ``q``
    and ``q_t`` are Benjamini-Hochberg q-values over every test of the same pair of conditions;
    ``significant`` is ``q < q_level``. With a baseline condition the level measures are compared
    as differences from each participant's baseline. Rows are ordered by pair, measure (as in
    :data:`MEASURES`) and absolute difference, largest first.
    """
    rng = np.random.default_rng(seed)
    timeline = str(summary["timeline"].iloc[0]) if len(summary) else ""
    rows = []
    for a, b in condition_pairs(conditions, baseline_condition):
        block = []
        for measure in MEASURES:
            col = (
                f"{measure}_vs_baseline"
                if baseline_condition and (measure in BASELINE_MEASURES)
                else measure
            )
            for emotion in emotions:
                sel = summary[summary["emotion"] == emotion]
                va = sel[sel["condition"] == a].set_index("participant")[col].dropna()
                vb = sel[sel["condition"] == b].set_index("participant")[col].dropna()
                r = _test_pair(va, vb, min_participants, n_bootstrap, rng)
                block.append(
                    {"comparison": f"{a} vs {b}", "condition_a": a, "condition_b": b}
                    | {"measure": col, "emotion": emotion, "timeline": timeline}
                    | r
                )
        df = pd.DataFrame(block)
        for c in ("p", "p_t"):
            if c not in df:
                df[c] = math.nan
        df["q"], df["q_t"] = _bh(df["p"]), _bh(df["p_t"])
        df["significant"] = df["q"] < q_level
        df["_order"] = df["measure"].map({m: i for i, m in enumerate(df["measure"].unique())})
        df["_abs"] = -df["difference"].abs().fillna(-1)
        rows.append(
            df.sort_values(["_order", "_abs"], kind="stable").drop(columns=["_order", "_abs"])
        )
    if not rows:
        return pd.DataFrame(columns=CONDITION_COLUMNS)
    return pd.concat(rows, ignore_index=True).reindex(columns=CONDITION_COLUMNS)


# --------------------------------------------------------------------------------------------
# report: markdown and figures
# --------------------------------------------------------------------------------------------


def _num(x, fmt: str = ".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, fmt)


def _p(x) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.2g}" if x >= 0.001 else f"{x:.1e}"


def conditions_markdown(
    table: pd.DataFrame, summary: pd.DataFrame, q_level: float, n_bootstrap: int, min_n: int
) -> str:
    """The condition-comparison section of the report (one table per pair of conditions)."""
    sessions = sorted(summary["session"].unique())
    timeline = summary["timeline"].iloc[0] if len(summary) else ""
    lines = [
        "## Do the conditions differ?",
        "",
        f"Timeline: **{timeline}** ({TIMELINES.get(timeline, '')}). "
        f"{len(sessions)} sessions of {summary['participant'].nunique()} participants: "
        f"{', '.join(sessions)}.",
        "",
        "Within participants (those recorded in both conditions): paired Wilcoxon signed-rank "
        "(p) and paired t (p_t), effect Cohen's dz; otherwise between participants: "
        "Mann-Whitney U and Welch's t, effect Hedges' g. Difference = mean(b) - mean(a), 95% "
        f"bootstrap intervals ({n_bootstrap} resamples of participants). q: Benjamini-Hochberg "
        f"over all tests of one pair of conditions; * = q < {q_level:g}. Tests need at least "
        f"{min_n} participants.",
        "",
    ]
    if table.empty:
        lines += ["Only one condition among the selected sessions: nothing to compare.", ""]
    for comp, df in table.groupby("comparison", sort=False):
        a, b = df["condition_a"].iloc[0], df["condition_b"].iloc[0]
        tested = df[df["design"] != "none"]
        lines += [f"### {comp} (difference = {b} - {a})", ""]
        if tested.empty:
            lines += [f"Not tested: {df['note'].iloc[0]}.", ""]
            continue
        sig = tested[tested["significant"]]
        design = tested["design"].iloc[0]
        n = (
            f"{int(tested['n_paired'].max())} participants in both"
            if design == "within"
            else f"{int(tested['n_a'].max())} / {int(tested['n_b'].max())} participants"
        )
        lines += [
            f"{len(tested)} tests ({design} participants, n = {n}), {len(sig)} significant at "
            f"q < {q_level:g}.",
            "",
            f"| measure | emotion | mean {a} | mean {b} | difference [95% CI] | effect [95% CI] "
            "| p | q | p_t | q_t |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for _, r in df.iterrows():
            star = "*" if r["significant"] else ""
            lines.append(
                f"| {r['measure']} | {r['emotion']} | {_num(r['mean_a'])} | {_num(r['mean_b'])} "
                f"| {_num(r['difference'], '+.3f')}{star} [{_num(r['difference_ci_low'], '+.3f')}, "
                f"{_num(r['difference_ci_high'], '+.3f')}] | {_num(r['effect_size'], '+.2f')} "
                f"[{_num(r['effect_ci_low'], '+.2f')}, {_num(r['effect_ci_high'], '+.2f')}] "
                f"| {_p(r['p'])} | {_p(r['q'])} | {_p(r['p_t'])} | {_p(r['q_t'])} |"
            )
        notes = sorted(set(df["note"].dropna()) - {""})
        lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    lines += [
        "![paired](paired.png)",
        "",
        "![heatmap](heatmap.png)",
        "",
        "![curves](curves.png)",
    ]
    return "\n".join(lines) + "\n"


def _grid(n: int, cols: int = 4) -> tuple[int, int]:
    cols = min(cols, max(1, n))
    return -(-n // cols), cols


def plot_paired(
    summary: pd.DataFrame, emotions: list[str], conditions: list[str], out_png, measure: str
) -> None:
    """Per emotion: each condition's distribution (box) and one line per participant joining
    their sessions (paired slope plot)."""
    rows, cols = _grid(len(emotions))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    colors = emotion_colors(emotions)
    x = {c: i for i, c in enumerate(conditions)}
    for ax in axes.flat[len(emotions) :]:
        ax.axis("off")
    for ax, emotion in zip(axes.flat, emotions, strict=False):
        sel = summary[summary["emotion"] == emotion]
        data = [sel.loc[sel["condition"] == c, measure].dropna().to_numpy() for c in conditions]
        ax.boxplot(data, positions=range(len(conditions)), widths=0.45, showfliers=False)
        for _, g in sel.groupby("participant"):
            g = g[g["condition"].isin(x)].sort_values("condition", key=lambda s: s.map(x))
            ax.plot(
                g["condition"].map(x),
                g[measure],
                "-o",
                color=colors[emotion],
                alpha=0.55,
                ms=3.5,
                lw=1,
            )
        ax.set_xticks(range(len(conditions)), conditions)
        ax.set_title(emotion)
        ax.set_xlim(-0.5, len(conditions) - 0.5)
        ax.grid(axis="y", alpha=0.3)
    fig.supylabel(measure.replace("_", " "))
    fig.suptitle(f"{measure.replace('_', ' ')} per session: one line per participant")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def plot_heatmap(table: pd.DataFrame, emotions: list[str], out_png, measures: list[str]) -> None:
    """Mean difference (b - a) per comparison x measure (rows) and emotion (columns); * marks
    q below the level."""
    sel = table[table["measure"].isin(measures)]
    keys = list(dict.fromkeys(zip(sel["comparison"], sel["measure"], strict=True)))
    grid = np.full((max(1, len(keys)), len(emotions)), np.nan)
    star = np.zeros_like(grid, dtype=bool)
    for i, (comp, m) in enumerate(keys):
        for j, e in enumerate(emotions):
            r = sel[(sel["comparison"] == comp) & (sel["measure"] == m) & (sel["emotion"] == e)]
            if len(r):
                grid[i, j] = r["difference"].iloc[0]
                star[i, j] = bool(r["significant"].iloc[0])
    lim = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.3 * len(emotions) + 3.5, 0.8 * len(grid) + 1.8))
    im = ax.imshow(grid, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i, j in np.ndindex(grid.shape):
        if np.isfinite(grid[i, j]):
            ax.text(
                j,
                i,
                f"{grid[i, j]:+.2f}{'*' if star[i, j] else ''}",
                ha="center",
                va="center",
                fontsize=9,
            )
    labels = []
    for comp, m in keys:
        a, b = comp.split(" vs ")
        labels.append(f"{b} - {a}: {m.replace('_', ' ')}")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xticks(range(len(emotions)), emotions)
    fig.colorbar(im, ax=ax, label="mean difference")
    ax.set_title("Condition differences by emotion (* significant after BH)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def plot_curves(curves: pd.DataFrame, emotions: list[str], conditions: list[str], out_png) -> None:
    """Per emotion: each condition's mean probability over session time with a 95% t interval
    across sessions (band)."""
    rows, cols = _grid(len(emotions))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharey=True)
    palette = plt.get_cmap("tab10")
    for ax in axes.flat[len(emotions) :]:
        ax.axis("off")
    for ax, emotion in zip(axes.flat, emotions, strict=False):
        sel = curves[curves["emotion"] == emotion]
        for k, c in enumerate(conditions):
            g = sel[sel["condition"] == c].groupby("time_s")["mean"]
            m, s, n = g.mean(), g.std(ddof=1), g.count()
            if m.empty:
                continue
            half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * s / np.sqrt(n)
            ax.plot(m.index, m, color=palette(k), label=f"{c} (n={int(n.max())})")
            ax.fill_between(m.index, m - half, m + half, color=palette(k), alpha=0.2, lw=0)
        ax.set_title(emotion)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.supxlabel("session time (s)")
    fig.supylabel("mean probability")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def compare_conditions(
    summary_csv: str | Path,
    curves_csv: str | Path,
    emotions: list[str],
    conditions: list[str],
    out_csv: str | Path,
    out_md: str | Path,
    out_paired_png: str | Path,
    out_heatmap_png: str | Path,
    out_curves_png: str | Path,
    *,
    baseline_condition: str = "",
    min_participants: int = 5,
    n_bootstrap: int = 2000,
    q_level: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Test the conditions against each other (:func:`condition_table`) and write
    ``conditions.csv``, ``conditions.md`` and the three figures: paired slope plots of the mean
    probability, the heatmap of mean differences (mean probability and share dominant) and the
    mean curves per condition. ``conditions`` orders the conditions (sheet order); only those
    present in the summary are used. Returns the table."""
    summary = read_table(summary_csv, SUMMARY_COLUMNS)
    curves = read_table(curves_csv, CURVE_COLUMNS)
    present = [c for c in conditions if c in set(summary["condition"])]
    table = condition_table(
        summary,
        emotions,
        present,
        baseline_condition=baseline_condition,
        min_participants=min_participants,
        n_bootstrap=n_bootstrap,
        q_level=q_level,
        seed=seed,
    )
    write_table(table, out_csv)
    Path(out_md).write_text(
        conditions_markdown(table, summary, q_level, n_bootstrap, min_participants)
    )
    level = "_vs_baseline" if baseline_condition else ""
    plot_paired(summary, emotions, present, out_paired_png, f"mean_probability{level}")
    plot_heatmap(
        table, emotions, out_heatmap_png, [f"mean_probability{level}", f"dominance{level}"]
    )
    plot_curves(curves, emotions, present, out_curves_png)
    return table


__all__ = [
    "MEASURES",
    "TIMELINES",
    "compare_conditions",
    "condition_table",
    "read_table",
    "read_timeline",
    "session_measures",
    "summarise_sessions",
    "write_table",
]
