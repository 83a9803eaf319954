"""The session sheet: one row per recorded session, checked before any job runs.

Every problem is reported with the sheet's path and row number (as a spreadsheet shows it, the
header being row 1) and what to change. A line whose first character (after blanks) is ``#`` is
a comment; a ``#`` anywhere else is part of the value (``data/take#2.mp4``).
"""

from __future__ import annotations

import csv
import functools
import io
import warnings
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from . import UserInputError

COLUMNS = ["participant", "condition", "video", "split", "annotation"]


def load_sessions(
    path: str | Path, schema_path: str | Path, *, generated_prefixes: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read and validate the TSV session sheet; return it indexed by ``session``
    (``{participant}_{condition}``). Videos and annotations must exist, unless their path starts
    with one of ``generated_prefixes`` (files the workflow itself makes, e.g. the demo study)."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(
            f"{path}: is a directory; config key 'sessions' must name the session sheet (TSV)"
        )
    if not path.is_file():
        raise UserInputError(f"{path}: session sheet not found (config key 'sessions')")
    df = _read_sheet(path)
    missing = [c for c in ("participant", "condition", "video", "split") if c not in df.columns]
    if missing:
        raise UserInputError(
            f"{path}: missing column(s) {missing}; the sheet needs tab-separated columns {COLUMNS}"
        )
    if "annotation" not in df.columns:
        df["annotation"] = ""
    rows = df.attrs["rows"]
    df = df.apply(lambda col: col.str.strip())
    df.attrs["rows"] = rows
    if df.empty:
        raise UserInputError(f"{path}: the session sheet has no rows")
    validator = _validator(str(schema_path))
    seen: dict[tuple[str, str], int] = {}
    for i, row in zip(df.attrs["rows"], df.to_dict("records"), strict=True):
        where = f"{path}, row {i + 2} ({row.get('participant', '')}/{row.get('condition', '')})"
        errors = sorted(validator.iter_errors(row), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            field = ".".join(str(p) for p in e.path) or "row"
            hint = (
                " (use letters, digits and '-': it becomes part of file names)"
                if e.validator == "pattern"
                else ""
            )
            raise UserInputError(f"{where}: {field}: {e.message}{hint}")
        key = (row["participant"], row["condition"])
        if key in seen:
            raise UserInputError(
                f"{where}: duplicate session {key[0]}/{key[1]} (also on row {seen[key]}); "
                "each participant/condition pair may appear once"
            )
        seen[key] = i + 2
        if row["split"] == "validation" and not row["annotation"]:
            raise UserInputError(
                f"{where}: a validation session needs an annotation (it is used to choose the "
                "method by its score against the annotation); give one or use split predict-only"
            )
        for col in ("video", "annotation"):
            p = row[col]
            if p and not p.startswith(generated_prefixes):
                _check_file(p, col, where)
    df = df.reset_index(drop=True)
    # the row numbers were for the messages above; pandas deep-copies attrs on every row lookup,
    # which made the workflow's DAG of a 1,000-session study seconds slower
    df.attrs = {}
    if not (df["split"] == "train").any():
        raise UserInputError(
            f"{path}: no row has split 'train'; the sequence model needs training sessions"
        )
    df.insert(0, "session", df["participant"] + "_" + df["condition"])
    return df.set_index("session", drop=False)


@functools.lru_cache(maxsize=4)
def _validator(schema_path: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(yaml.safe_load(Path(schema_path).read_text()))


def _read_sheet(path: Path) -> pd.DataFrame:
    """The sheet's rows as strings, comment and blank lines left out; ``attrs["rows"]`` holds each
    row's 0-based data-line number as the file counts it (for messages)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserInputError(
            f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save the sheet as UTF-8 TSV"
        ) from None
    except OSError as e:
        raise UserInputError(f"{path}: cannot read the session sheet ({e.strerror})") from None
    lines = [
        (n, line)
        for n, line in enumerate(text.splitlines())
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise UserInputError(f"{path}: the session sheet is empty; it needs a header row {COLUMNS}")
    header_line = lines[0][0]
    width = lines[0][1].count("\t") + 1
    for n, line in lines[1:]:
        if line.count("\t") + 1 > width:
            raise UserInputError(
                f"{path}, row {n + 1}: {line.count(chr(9)) + 1} tab-separated fields, but the "
                f"header has {width}; remove the extra tabs (or name the column in the header)"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)  # short rows: empty cells
            df = pd.read_csv(
                io.StringIO("\n".join(line for _, line in lines)),
                sep="\t",
                dtype=str,
                keep_default_na=False,
                quoting=csv.QUOTE_NONE,
                skip_blank_lines=False,
                index_col=False,
            )
    except (ValueError, pd.errors.ParserError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"{path}: cannot read as a tab-separated sheet ({first})") from None
    df.columns = [str(c).strip() for c in df.columns]
    dup = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup or any(c.startswith("Unnamed:") or "." in c for c in df.columns):
        raise UserInputError(
            f"{path}, row {header_line + 1}: the header must name each column once "
            f"({', '.join(COLUMNS)}), got {list(df.columns)}"
        )
    df = df.fillna("")
    df.attrs["rows"] = [n - 1 for n, _ in lines[1:]]
    return df


def _check_file(p: str, col: str, where: str) -> None:
    """The file a sheet cell names must be a file: say so for a missing path or a directory."""
    try:
        f = Path(p)
        if f.is_dir():
            raise UserInputError(
                f"{where}: {col} {p!r} is a directory; give the path of the {col} file itself"
            )
        if not f.is_file():
            raise UserInputError(f"{where}: {col} file {p!r} does not exist")
    except (OSError, ValueError) as e:  # a NUL byte, a name too long
        raise UserInputError(f"{where}: {col} path {p!r} is not a usable path ({e})") from None
