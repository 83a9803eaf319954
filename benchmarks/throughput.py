"""Throughput benchmark: decode floor vs our per-session chain vs the `fer` package.

    python benchmarks/throughput.py --seconds 60 600      # `make bench` runs this

For each length N (seconds) one 640x480, 30 fps demo video (generated once, cached in
benchmarks/.cache/) is processed at 5 sampled frames per second by, each in a fresh process
(interpreter start and imports included, as a workflow job pays them):

- decode floor: open the video, grab() every frame, retrieve() the sampled ones, nothing else;
- our chain, as the workflow runs it: the extract_frames job (decode, find the face, crop,
  HDF5) then the extract_features job (CNN features and probabilities, HDF5), config/config.yaml
  settings; its time is the sum of the two jobs, its peak RSS the larger of the two;
- the chain with full detection in every sampled frame (frames.track: false), for reference;
- the peer: the `fer` package's FER(mtcnn=False).detect_emotions (its Haar detector, its
  classifier) on the same sampled frames, decoded the same way (decoding is included for every
  row). fer is installed with --no-deps into benchmarks/.peer/ (nothing else is installed).

"1 core" pins the process to one CPU (sched_setaffinity) with every thread pool at 1; "all"
uses every CPU of the machine. Ratios are taken within one run; "cpu s" (the processes' own
CPU time) shows what the 1-core figures would be on an otherwise idle machine. The CNN is an
untrained network of the workflow's architecture (same cost as a trained one) unless --model
is given.
Results go to stdout and benchmarks/results/throughput.tsv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / ".cache"
PEER = REPO / "benchmarks" / ".peer"
RESULTS = REPO / "benchmarks" / "results"
PEER_SPEC = "fer==25.10.3"
# Modules fer's import path needs besides what the project already installs, and the package
# that provides each, installed with --no-deps into PEER only when missing.
PEER_IMPORTS = {"pkg_resources": "setuptools<81", "requests": "requests", "PIL": "pillow"}
SAMPLE_FPS = 5.0


# ------------------------------------------------------------------------------------------
# set-up: peer package, videos, model
# ------------------------------------------------------------------------------------------


def pip_target(spec: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(PEER), spec],
        check=True,
    )


def ensure_peer() -> str:
    """Install fer (and any module of its import path that is missing) into PEER; return the
    path of the fer module that the peer runs import."""
    if not (PEER / "fer" / "fer.py").is_file():
        print(f"installing {PEER_SPEC} --no-deps into {PEER.relative_to(REPO)}/", flush=True)
        pip_target(PEER_SPEC)
    for _ in range(len(PEER_IMPORTS) + 1):
        probe = subprocess.run(
            [sys.executable, "-c", "import fer.fer; print(fer.fer.__file__)"],
            env={**os.environ, "PYTHONPATH": str(PEER), "TF_CPP_MIN_LOG_LEVEL": "3"},
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            return probe.stdout.strip().splitlines()[-1]
        missing = next((m for m in PEER_IMPORTS if f"No module named '{m}'" in probe.stderr), None)
        if missing is None:
            raise SystemExit(f"cannot import fer from {PEER}:\n{probe.stderr[-3000:]}")
        print(f"fer needs {missing}: installing {PEER_IMPORTS[missing]} --no-deps", flush=True)
        pip_target(PEER_IMPORTS[missing])
    raise SystemExit("cannot set up the peer")


def ensure_video(seconds: int) -> Path:
    path = CACHE / f"video_{seconds}s_640x480_30fps_seed0.mp4"
    if not path.is_file():
        print(f"generating a {seconds} s demo video into {path.relative_to(REPO)} ", end="")
        print(f"(once; ~{max(1, seconds // 4)} s)", flush=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        from emotiontrack.demo import make_session_video

        part = path.with_suffix(".part.mp4")
        make_session_video(
            part, path.with_suffix(".csv"), "bench01", "condA", seed=0, duration_s=seconds
        )
        part.replace(path)
    return path


def ensure_model(model: str | None) -> Path:
    if model:
        return Path(model)
    path = CACHE / "cnn_untrained_48x7.keras"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        code = (
            "from emotiontrack.tfutil import configure_tf; configure_tf(1, 0)\n"
            "from emotiontrack.cnn import build_cnn\n"
            f"build_cnn(48, 7).save({str(path)!r})\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env=child_env(1), cwd=REPO)
    return path


# ------------------------------------------------------------------------------------------
# one measured stage, in a fresh process
# ------------------------------------------------------------------------------------------


def child_env(threads: int) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)  # what Snakemake sets for a job with this many threads
    return env


def stage_main(spec: dict) -> None:
    """Runs in the child process: pin, import, do the stage's work, report JSON on stdout."""
    cpus = spec["cpus"]
    os.sched_setaffinity(0, cpus)
    threads = len(cpus)
    stage, video = spec["stage"], spec["video"]
    info: dict = {}
    if stage == "floor":
        import cv2

        cv2.setNumThreads(threads)
        from emotiontrack.video import sample_frames

        _, frames = sample_frames(video, SAMPLE_FPS)
        info["sampled"] = sum(1 for _ in frames)
    elif stage == "frames":
        import yaml

        from emotiontrack.faces import face_finder
        from emotiontrack.frames import extract_frames

        fr = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["frames"]
        keys = ("detector", "detector_model", "detector_min_score", "detector_min_face")
        keys += ("detect_width", "min_neighbors", "track", "track_face_px", "track_margin")
        keys += ("track_size_range", "track_refresh_every", "track_lost_every")
        settings = {k: fr[k] for k in keys} | spec.get("override", {})
        info = extract_frames(
            video,
            spec["frames_h5"],
            sample_fps=fr["fps"],
            detector=face_finder(**settings),
            threads=threads,
        )
        info["sampled"] = info.pop("n_frames")
    elif stage == "features":
        from emotiontrack.demo import EMOTIONS
        from emotiontrack.features import extract_features

        info = extract_features(
            spec["frames_h5"], spec["model"], spec["features_h5"], EMOTIONS, threads=threads
        )
        info["sampled"] = info.pop("n_frames")
    elif stage == "peer":
        sys.path.insert(0, str(PEER))
        import cv2
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        cv2.setNumThreads(threads)
        import fer
        from fer.fer import FER

        from emotiontrack.video import sample_frames

        detector = FER(mtcnn=False)
        _, frames = sample_frames(video, SAMPLE_FPS)
        n = faces = 0
        for _, _, frame in frames:
            faces += bool(detector.detect_emotions(frame))
            n += 1
        info = {"sampled": n, "n_faces": faces, "module": fer.__file__}
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    info["rss_mb"] = usage.ru_maxrss / 1024
    info["cpu_s"] = usage.ru_utime + usage.ru_stime
    print("STAGE-RESULT " + json.dumps(info), flush=True)


def run_stage(spec: dict, threads: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", json.dumps(spec)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=child_env(threads), cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [x for x in r.stdout.splitlines() if x.startswith("STAGE-RESULT ")]
    if r.returncode != 0 or not lines:
        raise SystemExit(f"stage {spec['stage']} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return {"wall_s": wall, **json.loads(lines[-1].split(" ", 1)[1])}


# ------------------------------------------------------------------------------------------
# the benchmark
# ------------------------------------------------------------------------------------------


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_video(seconds: int, model: Path, all_cpus: list[int], peer: bool, tmp: Path) -> list:
    video = str(ensure_video(seconds))
    one = [all_cpus[0]]
    rows = []

    def chain(cpus: list[int], label: str, override: dict | None = None) -> dict:
        h5 = str(tmp / f"frames_{seconds}_{label}.h5")
        spec = {"video": video, "cpus": cpus, "frames_h5": h5, "override": override or {}}
        fr = run_stage({**spec, "stage": "frames"}, len(cpus))
        ft = run_stage(
            {**spec, "stage": "features", "model": str(model), "features_h5": h5 + ".f.h5"},
            len(cpus),
        )
        return {
            "wall_s": fr["wall_s"] + ft["wall_s"],
            "cpu_s": fr["cpu_s"] + ft["cpu_s"],
            "rss_mb": max(fr["rss_mb"], ft["rss_mb"]),
            "sampled": fr["sampled"],
            "n_faces": fr["n_faces"],
            "parts": (fr, ft),
        }

    plan = [
        (
            "decode floor",
            one,
            lambda: run_stage({"stage": "floor", "video": video, "cpus": one}, 1),
        ),
        ("chain (frames + features)", one, lambda: chain(one, "fast")),
        ("chain, full detection", one, lambda: chain(one, "full", {"track": False})),
    ]
    if peer:
        plan.append(
            (
                "peer: fer 25.10.3 (Haar)",
                one,
                lambda: run_stage({"stage": "peer", "video": video, "cpus": one}, 1),
            )
        )
    if len(all_cpus) > 1:
        n = len(all_cpus)
        plan += [
            (
                "decode floor",
                all_cpus,
                lambda: run_stage({"stage": "floor", "video": video, "cpus": all_cpus}, n),
            ),
            ("chain (frames + features)", all_cpus, lambda: chain(all_cpus, "fast_all")),
        ]
        if peer:
            plan.append(
                (
                    "peer: fer 25.10.3 (Haar)",
                    all_cpus,
                    lambda: run_stage({"stage": "peer", "video": video, "cpus": all_cpus}, n),
                )
            )
    for name, cpus, fn in plan:
        print(f"  {seconds:4d} s  {name:28s} {len(cpus)} core(s) ...", end="", flush=True)
        res = fn()
        print(f" {res['wall_s']:.1f} s", flush=True)
        rows.append({"seconds": seconds, "stage": name, "cores": len(cpus), **res})
    return rows


def report(rows: list[dict], seconds_list: list[int]) -> list[str]:
    out = []
    head = (
        f"{'video':>6} {'stage':28s} {'cores':>5} {'wall s':>7} {'frames/s':>9} "
        f"{'x real':>7} {'/floor1':>8} {'x peer':>7} {'RSS MB':>7} {'faces':>6} {'cpu s':>7}"
    )
    for s in seconds_list:
        rs = [r for r in rows if r["seconds"] == s]
        floor1 = next(r for r in rs if r["stage"] == "decode floor" and r["cores"] == 1)
        out += ["", head]
        for r in rs:
            peer = next(
                (p for p in rs if p["stage"].startswith("peer") and p["cores"] == r["cores"]), None
            )
            fps = r["sampled"] / r["wall_s"]
            vs_peer = (
                f"{peer['wall_s'] / r['wall_s']:7.1f}"
                if peer and not r["stage"].startswith(("peer", "decode"))
                else f"{'':7s}"
            )
            out.append(
                f"{s:5d}s {r['stage']:28s} {r['cores']:5d} {r['wall_s']:7.2f} {fps:9.1f} "
                f"{s / r['wall_s']:7.1f} {r['wall_s'] / floor1['wall_s']:8.2f} {vs_peer} "
                f"{r['rss_mb']:7.0f} {r.get('n_faces', ''):>6} {r['cpu_s']:7.2f}"
            )
            if "parts" in r:
                for part, name in zip(r["parts"], ("frames job", "features job"), strict=True):
                    out.append(
                        f"{'':6s}   {name:25s} {'':5s} {part['wall_s']:7.2f} {'':9s} {'':7s} "
                        f"{part['wall_s'] / floor1['wall_s']:8.2f} {'':7s} {part['rss_mb']:7.0f} "
                        f"{'':6s} {part['cpu_s']:7.2f}"
                    )
    return out


def targets(rows: list[dict], seconds_list: list[int]) -> list[str]:
    out = ["", "targets:"]

    def get(s, stage, cores):
        return next(
            (r for r in rows if r["seconds"] == s and r["stage"] == stage and r["cores"] == cores),
            None,
        )

    for s in seconds_list:
        floor1 = get(s, "decode floor", 1)
        for cores in sorted({r["cores"] for r in rows}):
            c = get(s, "chain (frames + features)", cores)
            p = get(s, "peer: fer 25.10.3 (Haar)", cores)
            if cores == 1:
                ratio = c["wall_s"] / floor1["wall_s"]
                out.append(
                    f"  {s:4d} s  chain on 1 core / decode floor on 1 core = {ratio:.2f} "
                    f"(target <= 3): {'met' if ratio <= 3 else 'MISSED'}; chain "
                    f"{s / c['wall_s']:.1f}x real time (CPU-time ratio "
                    f"{c['cpu_s'] / floor1['cpu_s']:.2f})"
                )
            if p:
                ratio = p["wall_s"] / c["wall_s"]
                out.append(
                    f"  {s:4d} s  chain throughput / peer throughput, {cores} core(s) = "
                    f"{ratio:.1f} (target >= 10): {'met' if ratio >= 10 else 'MISSED'}"
                )
    if len(seconds_list) > 1:
        lo, hi = min(seconds_list), max(seconds_list)
        for cores in sorted({r["cores"] for r in rows}):
            a, b = (
                get(lo, "chain (frames + features)", cores),
                get(hi, "chain (frames + features)", cores),
            )
            if a and b:
                growth = b["rss_mb"] / a["rss_mb"] - 1
                out.append(
                    f"  peak RSS of the chain, {cores} core(s): {lo} s {a['rss_mb']:.0f} MB, "
                    f"{hi} s {b['rss_mb']:.0f} MB ({100 * growth:+.1f}%, target within 10%): "
                    f"{'met' if abs(growth) <= 0.10 else 'MISSED'}"
                )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, nargs="+", default=[60, 600], help="video lengths")
    ap.add_argument("--model", help="a .keras CNN (default: untrained, same architecture)")
    ap.add_argument("--no-peer", action="store_true", help="skip the fer rows")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        stage_main(json.loads(args.stage))
        return
    sys.path.insert(0, str(REPO))
    all_cpus = sorted(os.sched_getaffinity(0))
    peer_module = None if args.no_peer else ensure_peer()
    model = ensure_model(args.model)
    for s in args.seconds:
        ensure_video(s)
    import cv2

    print(
        f"machine: {len(all_cpus)} CPUs, OpenCV {cv2.__version__}, Python {sys.version.split()[0]}"
    )
    if peer_module:
        print(f"peer: {PEER_SPEC} imported from {peer_module}")
    print(f"load average before: {load()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="et-bench-") as tmp:
        for s in args.seconds:
            rows += bench_video(s, model, all_cpus, not args.no_peer, Path(tmp))
    lines = report(rows, args.seconds) + targets(rows, args.seconds)
    lines.append(f"load average after: {load()}")
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    cols = ["seconds", "stage", "cores", "wall_s", "cpu_s", "sampled", "n_faces", "rss_mb"]
    with open(RESULTS / "throughput.tsv", "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(str(r.get(c, "")) for c in cols) + "\n")


if __name__ == "__main__":
    main()
