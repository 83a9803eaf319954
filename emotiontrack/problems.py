"""The run's problem list: which sessions failed, in which step, and why (the first line of each
error), plus sessions left out (``bad_videos: exclude``) and warnings of the up-front checks.
Written as ``results/problems.tsv`` (the one writer) and printed as a summary at the end of a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .logs import FAILURE_PREFIX

COLUMNS = ["session", "step", "kind", "message", "log"]
_ERROR = re.compile(r"^Error in rule (\S+?):?(?:,|$)")
_GROUP_RULE = re.compile(r"^\s+rule (\S+):$")  # a job of a failed group (cluster profile)
_LOG = re.compile(r"^\s+log: (.+?) \(check log file")


def failed_jobs(snakemake_log: str | Path | list | None) -> list[tuple[str, str]]:
    """(rule, log file) of each failed job named in Snakemake's own run log(s): ``Error in rule``
    blocks, and the jobs of a failed group whose log says it failed (a group lists all its
    jobs). The log file is '' where the rule has none."""
    logs = snakemake_log if isinstance(snakemake_log, list | tuple) else [snakemake_log]
    text = "\n".join(Path(p).read_text(errors="replace") for p in logs if p and Path(p).is_file())
    jobs: list[list] = []
    for line in text.splitlines():
        if m := _ERROR.match(line):
            jobs.append([m.group(1), "", False])
        elif m := _GROUP_RULE.match(line):
            jobs.append([m.group(1), "", True])
        elif jobs and (m := _LOG.match(line)) and not jobs[-1][1]:
            jobs[-1][1] = m.group(1).split(", ")[0]
    failed = [(r, log) for r, log, grouped in jobs if not grouped or _failed_here(log)]
    return list(dict.fromkeys(failed))


def _failed_here(log_path: str) -> bool:
    p = Path(log_path)
    return bool(log_path) and p.is_file() and FAILURE_PREFIX in p.read_text(errors="replace")


def first_error(log_path: str | Path) -> str:
    """The one line that says why a step failed: its ``EmotionTrack error:`` line, else the last
    line that looks like an exception, else the log's last line."""
    p = Path(log_path)
    if not str(log_path) or not p.is_file():
        return "no log file; see Snakemake's output"
    lines = [x.strip() for x in p.read_text(errors="replace").splitlines() if x.strip()]
    for line in reversed(lines):
        if line.startswith(FAILURE_PREFIX):
            return line.removeprefix(FAILURE_PREFIX)
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line):
            return line
    return lines[-1] if lines else "empty log file"


def session_of_log(log_path: str, sessions: Iterable[str]) -> str:
    """The session a per-session log belongs to (``logs/<rule>/[<model>/]<session>.log``), or
    '' for a study-level step."""
    stem = Path(log_path).stem
    return stem if stem in set(sessions) else ""


def problem_rows(
    snakemake_log: str | Path | None,
    sessions: Iterable[str],
    excluded: dict[str, str] | None = None,
    warnings: Iterable[str] = (),
) -> list[dict]:
    """Rows of the problem table: failed jobs, then excluded sessions, then warnings."""
    sessions = list(sessions)
    rows = [
        {
            "session": session_of_log(log, sessions),
            "step": rule,
            "kind": "failed",
            "message": first_error(log),
            "log": log,
        }
        for rule, log in failed_jobs(snakemake_log)
    ]
    rows += [
        {"session": s, "step": "check videos", "kind": "excluded", "message": why, "log": ""}
        for s, why in (excluded or {}).items()
    ]
    rows += [
        {"session": "", "step": "check inputs", "kind": "warning", "message": w, "log": ""}
        for w in warnings
    ]
    return rows


def write_problems(rows: list[dict], out_tsv: str | Path) -> None:
    """Write the problem table (header only when there is none)."""
    out = Path(out_tsv)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out, sep="\t", index=False)


def summary(rows: list[dict], out_tsv: str) -> str:
    """The end-of-run summary: failed sessions by step with their first error line, excluded
    sessions; '' when nothing failed and nothing was excluded."""
    failed = [r for r in rows if r["kind"] == "failed"]
    excluded = [r for r in rows if r["kind"] == "excluded"]
    if not failed and not excluded:
        return ""
    lines = ["", "EmotionTrack: problems in this run (also in " + out_tsv + "):"]
    if failed:
        n_sessions = len({r["session"] for r in failed if r["session"]})
        lines.append(f"  {len(failed)} failed step(s), {n_sessions} session(s):")
        lines += [
            f"    {r['session'] or '(study)'}  {r['step']}: {r['message']}"
            + (f"  [{r['log']}]" if r["log"] else "")
            for r in failed
        ]
    if excluded:
        lines.append(f"  {len(excluded)} session(s) left out (bad_videos: exclude):")
        lines += [f"    {r['session']}: {r['message']}" for r in excluded]
    return "\n".join(lines) + "\n"


def write_excluded(participant: str, condition: str, reason: str, out_txt: str | Path) -> None:
    """The flagged output of a session left out of the study (``bad_videos: exclude``)."""
    Path(out_txt).parent.mkdir(parents=True, exist_ok=True)
    Path(out_txt).write_text(
        f"EXCLUDED: session {participant}_{condition} was left out of training and statistics "
        f"(bad_videos: exclude).\nReason: {reason}\n"
    )
