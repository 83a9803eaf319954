"""Ground-truth annotations: the user's per-session CSV of intervals (``start_s``, ``end_s``,
``emotion``; optional ``face_visible``), read and checked with messages that name the file and the
row, and looked up per frame (:func:`truth_at`, :func:`visible_at`). Light on purpose (NumPy and
pandas only): the workflow's up-front checks read every annotation before the first job."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotiontrack import UserInputError
from emotiontrack.labels import FER2013_CODES, canonical

ANNOTATION_COLUMNS = ("start_s", "end_s", "emotion")
# Annotation intervals may touch; a later interval may start this much (seconds) before the
# previous one ends without counting as an overlap (rounding in annotation tools).
OVERLAP_TOLERANCE_S = 1e-6
# Emotions an annotation may name although the study's list leaves them out (a 5-class CK+
# study scoring 7-class annotations): their intervals are not scored. Any other name is an error.
OTHER_KNOWN_EMOTIONS = {*FER2013_CODES.values(), "contempt"}


def _name_map(emotions: Sequence[str]) -> dict[str, str]:
    """Map the canonical form of each study emotion to its spelling in the study's list."""
    if len(emotions) == 0:
        raise ValueError("the emotion list is empty")
    mapping: dict[str, str] = {}
    for e in emotions:
        key = canonical(str(e))
        if key in mapping:
            raise ValueError(f"emotion list has duplicates after normalisation: {list(emotions)}")
        mapping[key] = str(e)
    return mapping


def _is_missing(value: Any) -> bool:
    """True for None, NaN/NA and blank strings (a missing prediction)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _line(i: int) -> str:
    """Describe 0-based data row ``i`` of a CSV with one header line, for error messages."""
    return f"row {i + 1} (line {i + 2} of the file)"


def _read_csv(path: str | os.PathLike, kind: str) -> pd.DataFrame:
    """Read a CSV, turning unreadable or empty files into UserInputError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{kind} file '{p}' does not exist (check the path in the config)")
    try:
        df = pd.read_csv(p, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise UserInputError(f"{kind} file '{p}' is empty (expected a CSV with a header)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{kind} file '{p}' is not a readable CSV: {exc}") from exc
    names = [str(c).strip().lower() for c in df.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # pandas renames exact repeats to "x.1", so these differ only in case or spaces
        raise UserInputError(
            f"{kind} file '{p}': column {twice[0]!r} appears more than once in the header "
            "(column names are read without regard to case and surrounding spaces)"
        )
    df.columns = names
    return df


def _numeric_column(df: pd.DataFrame, col: str, path: Path, kind: str) -> np.ndarray:
    """Column ``col`` as float; UserInputError naming the first non-numeric/non-finite row."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserInputError(
            f"{kind} file '{path}', {_line(i)}: {col} must be a finite number, "
            f"got {df[col].iloc[i]!r}"
        )
    return values


def _binary_column(df: pd.DataFrame, col: str, path: Path, kind: str) -> np.ndarray:
    """Column ``col`` as int 0/1; UserInputError naming the first row holding anything else."""
    raw = df[col]
    if raw.dtype == bool:
        return raw.to_numpy(dtype=int)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserInputError(
            f"{kind} file '{path}', {_line(i)}: {col} must be 0 or 1, got {raw.iloc[i]!r}"
        )
    return values.astype(int)


def load_annotation(path: str | os.PathLike, emotions: list[str]) -> pd.DataFrame:
    """Read and validate a ground-truth annotation CSV.

    Columns ``start_s, end_s, emotion`` (required) and ``face_visible`` (optional, 0/1); column
    names are matched case-insensitively, other columns are ignored. Intervals must have numeric
    times with ``start_s < end_s``, be sorted by time and not overlap (gaps are allowed: frames in a
    gap have no ground truth). Emotions are matched case-insensitively (and through the synonyms of
    :func:`emotiontrack.labels.canonical`, e.g. ``anger``) against ``emotions``; an interval of a
    known emotion the study does not classify (``neutral`` in a 5-class study) gets emotion ``''``
    and is not scored, like a gap.

    Returns a DataFrame with ``start_s``, ``end_s`` (float), ``emotion`` (spelled as in
    ``emotions``) and, if present, ``face_visible`` (int). Raises UserInputError naming the file
    and the first bad row.
    """
    p = Path(path)
    kind = "annotation"
    names = _name_map(emotions)
    df = _read_csv(p, kind)
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        raise UserInputError(
            f"{kind} file '{p}' lacks column(s) {', '.join(missing)}; it needs "
            f"{', '.join(ANNOTATION_COLUMNS)} (and optionally face_visible); found: "
            f"{', '.join(df.columns) or 'none'}"
        )
    if len(df) == 0:
        raise UserInputError(f"{kind} file '{p}' has a header but no intervals")

    start = _numeric_column(df, "start_s", p, kind)
    end = _numeric_column(df, "end_s", p, kind)
    for i in range(len(df)):
        if not start[i] < end[i]:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: start_s ({start[i]:g}) must be less than "
                f"end_s ({end[i]:g})"
            )
        if i > 0 and start[i] < start[i - 1]:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: intervals must be sorted by start_s; this one "
                f"starts at {start[i]:g}, before the previous one ({start[i - 1]:g})"
            )
        if i > 0 and start[i] < end[i - 1] - OVERLAP_TOLERANCE_S:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: interval {start[i]:g}-{end[i]:g} overlaps the "
                f"previous one, which ends at {end[i - 1]:g}"
            )

    labels: list[str] = []
    for i, raw in enumerate(df["emotion"].tolist()):
        if _is_missing(raw):
            raise UserInputError(f"{kind} file '{p}', {_line(i)}: emotion is empty")
        key = canonical(str(raw))
        if key not in names and key in OTHER_KNOWN_EMOTIONS:
            labels.append("")  # a real emotion the study does not classify: not scored
            continue
        if key not in names:
            raise UserInputError(
                f"{kind} file '{p}', {_line(i)}: emotion {str(raw)!r} is not in the study's "
                f"emotion list ({', '.join(emotions)})"
            )
        labels.append(names[key])

    out = pd.DataFrame({"start_s": start, "end_s": end, "emotion": pd.Series(labels, dtype=object)})
    if "face_visible" in df.columns:
        out["face_visible"] = _binary_column(df, "face_visible", p, kind)
    out.attrs["source"] = str(p)
    return out


def _interval_index(annotation: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each time, the index of the interval containing it and whether one does.

    Intervals are ``[start, end)``; the last one also contains its end point.
    """
    t = np.asarray(times, dtype=float)
    starts = annotation["start_s"].to_numpy(dtype=float)
    ends = annotation["end_s"].to_numpy(dtype=float)
    n = len(starts)
    if n == 0:
        return np.zeros(t.shape, dtype=int), np.zeros(t.shape, dtype=bool)
    idx = np.searchsorted(starts, t, side="right") - 1
    idx_c = np.clip(idx, 0, n - 1)
    inside = (idx >= 0) & ((t < ends[idx_c]) | ((idx_c == n - 1) & (t == ends[n - 1])))
    return idx_c, inside


def truth_at(annotation: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Ground-truth emotion at each time: the interval ``[start_s, end_s)`` containing it.

    The last interval is closed (its ``end_s`` belongs to it). Times outside every interval (before,
    after, in a gap, or NaN) get ``''``. Returns an object array of str shaped like ``times``.
    """
    idx, inside = _interval_index(annotation, times)
    out = np.full(idx.shape, "", dtype=object)
    if inside.any():
        labels = annotation["emotion"].to_numpy(dtype=object)
        out[inside] = labels[idx[inside]]
    return out


def visible_at(annotation: pd.DataFrame, times: np.ndarray) -> np.ndarray | None:
    """Annotated ``face_visible`` (0/1, as float) at each time, NaN outside the annotation.

    Uses the same interval lookup as :func:`truth_at`. Returns None when the annotation has no
    ``face_visible`` column.
    """
    if "face_visible" not in annotation.columns:
        return None
    idx, inside = _interval_index(annotation, times)
    out = np.full(idx.shape, np.nan, dtype=float)
    if inside.any():
        vis = annotation["face_visible"].to_numpy(dtype=float)
        out[inside] = vis[idx[inside]]
    return out


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
