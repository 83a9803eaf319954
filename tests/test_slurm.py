"""The cluster path end to end: the tiny demo study through a real single-node SLURM
(tools/local-slurm.sh) with profiles/slurm, checked against SLURM's own job records and against
the local run of the same config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS, REPO
from studies import SNAKEMAKE, prepare, sessions

SESSIONS = sessions("tiny")

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

LOCAL_SLURM = str(REPO / "tools/local-slurm.sh")
# What tools/local-slurm.sh sets up, filled into the profile's placeholders as a user would.
FILL_IN = {
    "<ACCOUNT>": "local",
    "<PARTITION>": "local",
    '# gpu_model: "<GPU_MODEL>"': "gpu_model: fake",
}
# the submissions that train (the `cnn` group job holds train_cnn): those ask for a GPU
GPU_RULES = {"cnn", "train_sequence"}
# The tiny study's SLURM jobs: the study-wide steps one by one, each phase of the per-session
# chains as one group job (profiles/slurm: groups, group-components).
# (one train_sequence job per compared sequence model: refine and lstm, .test/tiny's
# evaluation.compare)
SUBMISSIONS = [
    "frames",
    "cnn",
    "features",
    *["train_sequence"] * 2,
    "compare",
    "choose_method",
    "report",
    "summary",
]
RUN_LIMIT_S = 900  # ends a hung run (a status query that waits forever, a job SLURM cannot place)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def filled_in_profile(dest: Path) -> Path:
    """profiles/slurm with its placeholders filled in for the local cluster."""
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    for placeholder, value in FILL_IN.items():
        assert placeholder in text, placeholder
        text = text.replace(placeholder, value)
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(text)
    return dest


def sacct(run_id: str) -> dict[str, dict[str, str]]:
    """SLURM's accounting records of the jobs named ``run_id`` (the plugin's run id), by job id."""
    fields = ["JobIDRaw", "State", "Comment", "ReqTRES", "AllocTRES"]
    since = f"{datetime.now() - timedelta(hours=6):%Y-%m-%dT%H:%M:%S}"
    r = subprocess.run(
        ["sacct", "-X", "-P", "-n", "--name", run_id, "-S", since, "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in r.stdout.splitlines()]
    return {row["JobIDRaw"]: row for row in rows}


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: tools/local-slurm.sh installs and starts SLURM"
    if not (shutil.which("apt-get") or shutil.which("slurmctld")):
        return "needs apt-get (Debian/Ubuntu) to install SLURM"
    return None


class SlurmRun:
    """Starts the local cluster and then the SLURM run of the tiny study in a background thread,
    so that both overlap the local run they are compared with (the `study` fixture): the SLURM
    run mostly waits (for the queue, between status checks), the local run computes."""

    def __init__(self, d: Path, profile: Path, log: Path):
        self.d, self.log = d, log
        self.command = [
            *SNAKEMAKE,
            "--directory",
            str(d),
            "--workflow-profile",
            str(profile),
            "--cores",
            "2",  # as the local run: the same thread counts, so the same numbers
            "--slurm-init-seconds-before-status-checks",
            "2",  # a tiny study: look at the queue often
        ]
        # SLURM's to set for the jobs it gives a GPU
        self.env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        self.start: subprocess.CompletedProcess | None = None
        self.proc: subprocess.Popen | None = None
        self.wall_s = float("nan")
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        self.start = subprocess.run(
            ["timeout", "300", LOCAL_SLURM, "start"], capture_output=True, text=True
        )
        if self.start.returncode != 0:
            return
        t0 = time.monotonic()
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                ["timeout", "--signal=INT", "--kill-after=30", str(RUN_LIMIT_S), *self.command],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.d,
            )
            self.proc.wait()
        self.wall_s = time.monotonic() - t0

    def finish(self) -> tuple[int, str]:
        """Wait for the run; its exit status and output."""
        self.thread.join(RUN_LIMIT_S + 400)
        assert not self.thread.is_alive(), "SLURM run did not end"
        assert self.start.returncode == 0, (
            f"no local SLURM:\n{self.start.stdout}{self.start.stderr}"
        )
        return self.proc.returncode, self.log.read_text()

    def cancel(self) -> None:
        """End a run still going (timeout passes SIGINT on: snakemake cancels its SLURM jobs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.thread.join(330)


@pytest.fixture(scope="session")
def slurm_run(tmp_path_factory):
    """The tiny study on a single-node SLURM with a fake GPU (tools/local-slurm.sh, which
    installs it first if need be), started in the background; the daemons are stopped at the
    end unless they were running before."""
    reason = skip_reason()
    if reason:
        if _in_ci():
            pytest.fail(f"CI runs the SLURM end-to-end test, but it {reason}")
        pytest.skip(f"SLURM end-to-end test {reason}")
    status = subprocess.run([LOCAL_SLURM, "status"], capture_output=True, text=True).stdout
    was_running = "slurmctld: running" in status
    base = tmp_path_factory.mktemp("slurm")
    study_dir = prepare("tiny", base / "study")
    run = SlurmRun(study_dir, filled_in_profile(base / "profile"), base / "log")
    try:
        yield run
    finally:
        run.cancel()
        if not was_running:
            subprocess.run([LOCAL_SLURM, "stop"], capture_output=True, timeout=120)


def test_tiny_study_on_slurm_matches_local_run(slurm_run, study, capsys):
    # `slurm_run` first: the SLURM run goes on while the `study` fixture runs the local one.
    rc, out = slurm_run.finish()
    wall, d = slurm_run.wall_s, slurm_run.d
    assert rc == 0, f"SLURM run: exit {rc} after {wall:.0f} s\n{out[-8000:]}"

    # All targets complete: nothing left to do.
    dry = subprocess.run(
        [*slurm_run.command, "-n"], capture_output=True, text=True, env=slurm_run.env, cwd=d
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]

    # Every rule ran inside a SLURM job (only `all`, which runs nothing, is local); one SLURM job
    # per submission, and the submissions are the single steps and the phase groups.
    assert re.findall(r"^localrule (\w+):", out, re.M) == ["all"]
    submitted = {}  # SLURM job id -> rule or group name
    for job_id, kind, name in re.findall(
        r"submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/(rule|group)_([^/\s]+)", out
    ):  # slurm_logs/rule_<rule>[/<wildcards>]/<id>.log or slurm_logs/group_<group>_<rules>/<id>.log
        submitted[job_id] = name if kind == "rule" else name.split("_", 1)[0]
    assert sorted(submitted.values()) == sorted(SUBMISSIONS), submitted

    # SLURM's records: exactly these jobs, all completed, the GPU rules with a GPU of the model
    # the profile names, the others without.
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    records = sacct(run_id)
    assert set(records) == set(submitted), (records, submitted)
    for job_id, name in submitted.items():
        rec = records[job_id]
        assert rec["State"] == "COMPLETED", rec
        assert rec["Comment"].startswith(f"rule_{name}"), rec
        assert ("gres/gpu" in rec["ReqTRES"]) == (name in GPU_RULES), rec
        if name in GPU_RULES:
            assert "gres/gpu:fake=1" in rec["AllocTRES"].split(","), rec
            logs = (
                [d / "logs/train_cnn.log"]
                if name == "cnn"
                else (d / "logs/train_sequence").glob("*.log")
            )
            for log in map(Path.read_text, logs):
                assert "CUDA_VISIBLE_DEVICES=0\n" in log, log[:2000]  # and the job saw it

    # The same predictions as the local run of the same config.
    for p, c, _ in SESSIONS:
        a = pd.read_csv(study / f"results/predictions/{p}_{c}.csv")
        b = pd.read_csv(d / f"results/predictions/{p}_{c}.csv")
        assert np.allclose(a[EMOTIONS], b[EMOTIONS], atol=1e-4, equal_nan=True), (p, c)
        assert (a["label"].fillna("") == b["label"].fillna("")).all(), (p, c)

    gpu = next(rec for job_id, rec in records.items() if submitted[job_id] == "cnn")
    with capsys.disabled():
        print(
            f"\nSLURM run: {len(submitted)} SLURM jobs, {wall:.0f} s; "
            f"train_cnn ReqTRES={gpu['ReqTRES']} AllocTRES={gpu['AllocTRES']}"
        )
