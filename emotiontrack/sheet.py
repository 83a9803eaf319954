"""The session sheet: one row per recorded session, checked before any job runs.

Every problem is reported with the sheet's path and row number (as a spreadsheet shows it, the
header being row 1) and what to change.
"""

from __future__ import annotations

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
    if not path.is_file():
        raise UserInputError(f"{path}: session sheet not found (config key 'sessions')")
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (ValueError, pd.errors.ParserError) as e:
        raise UserInputError(f"{path}: cannot read as a tab-separated sheet ({e})") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in ("participant", "condition", "video", "split") if c not in df.columns]
    if missing:
        raise UserInputError(
            f"{path}: missing column(s) {missing}; the sheet needs tab-separated columns {COLUMNS}"
        )
    if "annotation" not in df.columns:
        df["annotation"] = ""
    df = df.apply(lambda col: col.str.strip())
    if df.empty:
        raise UserInputError(f"{path}: the session sheet has no rows")
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(df.to_dict("records")):
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
            if p and not p.startswith(generated_prefixes) and not Path(p).is_file():
                raise UserInputError(f"{where}: {col} file {p!r} does not exist")
    if not (df["split"] == "train").any():
        raise UserInputError(
            f"{path}: no row has split 'train'; the sequence model needs training sessions"
        )
    df.insert(0, "session", df["participant"] + "_" + df["condition"])
    return df.set_index("session", drop=False)
