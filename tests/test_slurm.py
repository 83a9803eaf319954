"""The cluster path end to end, through a real single-node SLURM (tools/local-slurm.sh) with
profiles/slurm, checked against SLURM's own job records and against the local run of the same
config (the shared tiny study, the `study` fixture).

SLURM does not redo the whole study: it runs on a copy of the finished local study from which one
held-out session's chain and one compared sequence model were deleted (every phase group but
`cnn`, and a GPU training step), and, beside it, the `cnn` group alone (train_cnn, forced, one
epoch, + export_cnn) on a second copy. The submissions, groups, GPU requests and results checked
are those of the whole study's run, less the per-session jobs of the untouched sessions."""

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
import yaml
from conftest import EMOTIONS, REPO
from studies import SNAKEMAKE, merged, sessions

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
# What SLURM redoes in the copy of the finished study: one held-out session's whole chain (its
# frames, features, timelines from every compared model, trend chart) and the `lstm` model (the
# second of .test/tiny's evaluation.compare), then the study summary.
SESSION = "user03_condB"
DELETED = [
    f"results/**/{SESSION}*",
    "results/models/sequence/lstm*",
    "results/evaluation/predictions/lstm",
]
# One SLURM job per phase group (profiles/slurm: groups, group-components), one per single step.
SUBMISSIONS = ["frames", "features", "train_sequence", "compare", "report", "summary"]
# ...and in the second copy the `cnn` group: train_cnn (forced, one epoch) and export_cnn.
CNN_SUBMISSIONS = ["cnn"]
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


class LocalCluster:
    """tools/local-slurm.sh started (installed first if need be) in a background thread, so that
    it overlaps the local run of the study (the `study` fixture) the SLURM runs start from."""

    def __init__(self):
        self.start: subprocess.CompletedProcess | None = None
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        self.start = subprocess.run(
            ["timeout", "300", LOCAL_SLURM, "start"], capture_output=True, text=True
        )

    def wait_ready(self) -> None:
        self.thread.join(330)
        assert not self.thread.is_alive(), "local SLURM did not start"
        assert self.start.returncode == 0, (
            f"no local SLURM:\n{self.start.stdout}{self.start.stderr}"
        )


class SlurmRun:
    """The workflow in study folder ``d`` through SLURM (profiles/slurm filled in as ``profile``),
    in a background thread, its output in ``log``; ``args``: targets and options."""

    def __init__(self, d: Path, profile: Path, log: Path, *args: str):
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
            *args,
        ]
        # SLURM's to set for the jobs it gives a GPU
        self.env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        self.proc: subprocess.Popen | None = None
        self.wall_s = float("nan")
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
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
        self.thread.join(RUN_LIMIT_S + 60)
        assert not self.thread.is_alive(), "SLURM run did not end"
        return self.proc.returncode, self.log.read_text()

    def cancel(self) -> None:
        """End a run still going (timeout passes SIGINT on: snakemake cancels its SLURM jobs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.thread.join(30)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A single-node SLURM with a fake GPU (tools/local-slurm.sh, which installs it first if need
    be), starting in the background; the daemons are stopped at the end unless they were running
    before."""
    reason = skip_reason()
    if reason:
        if _in_ci():
            pytest.fail(f"CI runs the SLURM end-to-end test, but it {reason}")
        pytest.skip(f"SLURM end-to-end test {reason}")
    status = subprocess.run([LOCAL_SLURM, "status"], capture_output=True, text=True).stdout
    was_running = "slurmctld: running" in status
    cluster = LocalCluster()
    try:
        yield cluster
    finally:
        cluster.thread.join(330)
        if not was_running:
            subprocess.run([LOCAL_SLURM, "stop"], capture_output=True, timeout=120)


def copy_of(study: Path, d: Path) -> Path:
    """A copy of the finished study (modification times kept: nothing in it is out of date)."""
    ignore = shutil.ignore_patterns("locks", "incomplete")
    return Path(shutil.copytree(study, d, symlinks=True, ignore=ignore))


def submissions(out: str) -> dict[str, str]:
    """SLURM job id -> rule or group name, from a run's output."""
    submitted = {}
    for job_id, kind, name in re.findall(
        r"submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/(rule|group)_([^/\s]+)", out
    ):  # slurm_logs/rule_<rule>[/<wildcards>]/<id>.log or slurm_logs/group_<group>_<rules>/<id>.log
        submitted[job_id] = name if kind == "rule" else name.split("_", 1)[0]
    return submitted


def check_records(out: str, submitted: dict[str, str], gpu_logs: dict[str, Path]) -> dict:
    """SLURM's records of a run: exactly its jobs, all completed, the GPU rules with a GPU of the
    model the profile names (and their logs show the job saw it), the others without."""
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
            log = gpu_logs[name].read_text()
            assert "CUDA_VISIBLE_DEVICES=0\n" in log, log[:2000]
    return records


def test_tiny_study_on_slurm_matches_local_run(slurm_cluster, study, tmp_path, capsys):
    # `slurm_cluster` first: the cluster starts while the `study` fixture runs the local study.
    slurm_cluster.wait_ready()
    d = copy_of(study, tmp_path / "study")
    matched = [p for pattern in DELETED for p in d.glob(pattern)]
    deleted = sorted(
        {f.relative_to(d) for p in matched for f in ([p] if p.is_file() else p.rglob("*"))}
    )
    names = {p.name for p in deleted}
    assert {"lstm.onnx", f"{SESSION}.h5", f"{SESSION}.png"} <= names, deleted
    for p in matched:
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    # the `cnn` group in a second copy: train_cnn forced (one epoch is enough to show it ran on
    # SLURM with a GPU) and exported; only its target, so nothing downstream of it reruns
    cnn_dir = copy_of(study, tmp_path / "cnn")
    config = cnn_dir / "config/config.yaml"
    config.write_text(
        yaml.safe_dump(merged(yaml.safe_load(config.read_text()), {"cnn": {"epochs": 1}}))
    )
    profile = filled_in_profile(tmp_path / "profile")
    run = SlurmRun(d, profile, tmp_path / "study.log")
    cnn_run = SlurmRun(
        cnn_dir, profile, tmp_path / "cnn.log", "results/models/cnn.onnx", "--forcerun", "train_cnn"
    )
    try:
        (rc, out), (cnn_rc, cnn_out) = run.finish(), cnn_run.finish()
    finally:
        run.cancel()
        cnn_run.cancel()
    assert rc == 0, f"SLURM run: exit {rc} after {run.wall_s:.0f} s\n{out[-8000:]}"
    assert cnn_rc == 0, f"SLURM cnn run: exit {cnn_rc}\n{cnn_out[-8000:]}"

    # All targets complete again: nothing left to do.
    dry = subprocess.run([*run.command, "-n"], capture_output=True, text=True, env=run.env, cwd=d)
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]

    # Every rule ran inside a SLURM job (only `all`, which runs nothing, is local); one SLURM job
    # per submission, and the submissions are the single steps and the phase groups.
    assert re.findall(r"^localrule (\w+):", out, re.M) == ["all"]
    assert re.findall(r"^localrule (\w+):", cnn_out, re.M) == []
    submitted, cnn_submitted = submissions(out), submissions(cnn_out)
    assert sorted(submitted.values()) == sorted(SUBMISSIONS), submitted
    assert sorted(cnn_submitted.values()) == CNN_SUBMISSIONS, cnn_submitted
    check_records(out, submitted, {"train_sequence": d / "logs/train_sequence/lstm.log"})
    records = check_records(cnn_out, cnn_submitted, {"cnn": cnn_dir / "logs/train_cnn.log"})
    assert len(pd.read_csv(cnn_dir / "results/models/cnn_history.csv")) == 1  # trained there

    # Everything deleted is back, and the same as the local run's: the timelines of every session
    # and of every compared model (lstm retrained on SLURM).
    assert all(d.joinpath(p).is_file() for p in deleted), deleted
    tables = sorted(p.relative_to(study) for p in study.glob("results/**/predictions/**/*.csv"))
    assert {p for p in deleted if "predictions" in p.parts} < set(tables), (deleted, tables)
    for rel in tables:
        a, b = pd.read_csv(study / rel), pd.read_csv(d / rel)
        assert np.allclose(a[EMOTIONS], b[EMOTIONS], atol=1e-4, equal_nan=True), rel
        assert (a["label"].fillna("") == b["label"].fillna("")).all(), rel

    gpu = next(iter(records.values()))
    with capsys.disabled():
        print(
            f"\nSLURM runs: {len(submitted)} SLURM jobs, {run.wall_s:.0f} s; the cnn group "
            f"{cnn_run.wall_s:.0f} s, ReqTRES={gpu['ReqTRES']} AllocTRES={gpu['AllocTRES']}"
        )
