"""Workflow scale: time `snakemake -n` over a study of N sessions (placeholder files).

    python bench/dryrun.py --sessions 1000      # `make bench` runs this too

Builds, in a temporary directory, N empty placeholder videos (the sheet check needs the files to
exist; a dry run never opens them), a session sheet (80% train, 10% test with an annotation
placeholder, 10% predict-only), a placeholder FER set and a config, then times
`snakemake -n --directory <tmp> --snakefile <repo>/Snakefile` end to end (interpreter start,
config and sheet validation, the DAG of every job, the job listing). Prints the wall and CPU
time and the number of jobs. Run it on a quiet machine: wall time is CPU time plus waiting for
a CPU.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def write_study(d: Path, n: int) -> None:
    (d / "data").mkdir(parents=True)
    (d / "config").mkdir()
    rows = ["participant\tcondition\tvideo\tsplit\tannotation"]
    for i in range(n):
        p, c = f"P{i // 2:04d}", ("baseline", "stress")[i % 2]
        split = "train" if i % 10 < 8 else ("test" if i % 10 == 8 else "predict-only")
        video = f"data/{p}_{c}.mp4"
        (d / video).touch()
        ann = ""
        if split == "test":
            ann = f"data/{p}_{c}.csv"
            (d / ann).write_text("start_s,end_s,emotion\n0,1,happy\n")
        rows.append(f"{p}\t{c}\t{video}\t{split}\t{ann}")
    (d / "config/sessions.tsv").write_text("\n".join(rows) + "\n")
    # one row per FER2013 class: the up-front check wants training images for every emotion
    pixels = " ".join(["0"] * 48 * 48)
    (d / "data/fer2013.csv").write_text(
        "emotion,pixels,Usage\n" + "".join(f"{c},{pixels},Training\n" for c in range(7))
    )
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(sessions="config/sessions.tsv", fer={"path": "data/fer2013.csv"})
    (d / "config/config.yaml").write_text(yaml.safe_dump(config))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2, help="runs; the fastest is reported")
    args = ap.parse_args()
    snakemake = [sys.executable, "-m", "snakemake"]
    with tempfile.TemporaryDirectory(prefix="et-dryrun-") as tmp:
        d = Path(tmp)
        write_study(d, args.sessions)
        cmd = [*snakemake, "-n", "--directory", str(d), "--snakefile", str(REPO / "Snakefile")]
        cmd += ["--cores", "1"]
        times, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), os.times()
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=d)
            times.append(time.perf_counter() - t0)
            c1 = os.times()
            cpu.append(
                c1.children_user + c1.children_system - c0.children_user - c0.children_system
            )
            if r.returncode != 0:
                raise SystemExit(f"snakemake -n failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        jobs = re.search(r"^total\s+(\d+)", r.stdout + r.stderr, re.M)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"snakemake -n over {args.sessions} sessions ({jobs.group(1) if jobs else '?'} jobs): "
            f"{min(times):.2f} s wall, {min(cpu):.2f} s CPU (runs: "
            f"{', '.join(f'{t:.2f}' for t in times)} s wall); target < 10 s: "
            f"{'met' if min(times) < 10 else 'MISSED'}; load average {load}"
        )


if __name__ == "__main__":
    main()
