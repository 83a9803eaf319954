"""Throughput benchmark: decode floor vs our per-session chain vs the `fer` package.

    python bench/throughput.py --seconds 60 600      # `make bench` runs this
    python bench/throughput.py --video clip.mp4 --model fer2013-mini-xception

For each length N (seconds) one 640x480, 30 fps demo video (generated once, cached in
bench/.cache/), or each video given with --video, is processed at 5 sampled frames per
second by, each in a fresh process (interpreter start and imports included, as a workflow job
pays them):

- decode floor: open the video, grab() every frame, retrieve() the sampled ones, nothing else;
- our chain, as the workflow runs it: the extract_frames job (decode, find the face, crop,
  HDF5) then the extract_features job (CNN features and probabilities, HDF5), config/config.yaml
  settings; its time is the sum of the two jobs, its peak RSS the larger of the two;
- the chain with full detection in every sampled frame (frames.track: false), for reference;
- the peer: the `fer` package's FER(mtcnn=False).detect_emotions (its Haar detector, its
  classifier) on the same sampled frames, decoded the same way (decoding is included for every
  row). fer is installed with --no-deps into bench/.peer/ (nothing else is installed).

"1 core" pins the process to one CPU (sched_setaffinity) with every thread pool at 1; "all"
uses every CPU of the machine. Every stage runs --repeat times (default 3) and its fastest run
is kept (on a shared machine the same video's decode floor varied by 40% between single runs).
Ratios are taken within one run; "cpu s" (the processes' own CPU time) shows what the 1-core
figures would be on an otherwise idle machine. The CNN is an
untrained network of the workflow's architecture (same cost as a trained one) unless --model
names a built-in pretrained model (fer2013-mini-xception), a .keras CNN or an .onnx export; like
the workflow, the features job runs the model's ONNX export (made once, cached).
Targets (issue #14): a generated demo video's chain within 2x the decode floor and >= 10x the
peer's throughput; a real video's (--video) within 4x and >= 3x; peak RSS < 200 MB and, across
demo lengths, flat (within 10%).
Results go to stdout and bench/results/throughput.tsv.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
PEER = REPO / "bench" / ".peer"
RESULTS = REPO / "bench" / "results"
PEER_SPEC = "fer==25.10.3"
# Modules fer's import path needs besides what the project already installs, and the package
# that provides each, installed with --no-deps into PEER only when missing.
PEER_IMPORTS = {"pkg_resources": "setuptools<81", "requests": "requests", "PIL": "pillow"}
SAMPLE_FPS = 5.0


def workflow_config() -> dict:
    """config/config.yaml (read by the parent only: a job gets its settings as parameters)."""
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


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
        part = path.with_suffix(".part.mp4")
        # in a subprocess: Linux counts a child's RSS before exec() in its peak (ru_maxrss), so
        # a parent grown by generating the video would inflate every measured stage's RSS
        code = (
            "from emotiontrack.demo import make_session_video\n"
            f"make_session_video({str(part)!r}, {str(path.with_suffix('.csv'))!r}, 'bench01', "
            f"'condA', seed=0, duration_s={int(seconds)})\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env=child_env(1), cwd=REPO)
        part.replace(path)
    return path


def ensure_model(model: str | None) -> Path:
    """The ONNX file the features job runs: ``model`` itself when it is an .onnx file, else the
    export (made once in a TensorFlow subprocess, cached) of an untrained vgg-small (None), a
    .keras CNN, or a pretrained spec (a built-in name, or a Keras file wrapped as the workflow's
    import_pretrained_cnn does)."""
    if model and model.endswith(".onnx"):
        return Path(model)
    from emotiontrack.pretrained import BUILTIN
    from emotiontrack.video import sha256sum

    CACHE.mkdir(parents=True, exist_ok=True)
    if not model:
        keras_file, make = CACHE / "cnn_untrained_48x7.keras", "build_cnn(48, 7).save(out)"
        tag = keras_file.stem
    elif model in BUILTIN:
        keras_file = CACHE / f"{model}_7.keras"
        make, tag = f"save_pretrained({model!r}, EMOTIONS, out)", keras_file.stem
    else:  # a file: cached by content
        digest = sha256sum(model)[:12]
        if model.endswith(".keras"):
            keras_file, make = Path(model), ""
        else:
            keras_file = CACHE / f"pretrained_{digest}_7.keras"
            make = f"save_pretrained({model!r}, EMOTIONS, out)"
        tag = f"{Path(model).stem}_{digest}"
    onnx_file = CACHE / f"{tag}.onnx"
    if not onnx_file.is_file():
        print(f"exporting {model or 'an untrained vgg-small'} to {onnx_file} (once)", flush=True)
        code = (
            "from emotiontrack.tfutil import configure_tf; configure_tf(1, 0)\n"
            "from emotiontrack.cnn import build_cnn\n"
            "from emotiontrack.demo import EMOTIONS\n"
            "from emotiontrack.export import export_cnn\n"
            "from emotiontrack.pretrained import save_pretrained\n"
            f"out = {str(keras_file)!r}\n"
            + (f"{make}\n" if make and not keras_file.is_file() else "")
            + f"export_cnn(out, {str(onnx_file)!r})\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env=child_env(1), cwd=REPO)
    return onnx_file


def video_seconds(path: str | Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"{path}: cannot open the video")
    n, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return n / fps


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
        from emotiontrack.faces import face_finder, finder_settings
        from emotiontrack.frames import extract_frames

        work_from = time.perf_counter()
        info = extract_frames(
            video,
            spec["frames_h5"],
            sample_fps=spec["fps"],
            detector=face_finder(**finder_settings(spec["finder"])),
            threads=threads,
        )
        info["sampled"] = info.pop("n_frames")
    elif stage == "features":
        from emotiontrack.features import extract_features

        work_from = time.perf_counter()
        info = extract_features(
            spec["frames_h5"], spec["model"], spec["features_h5"], spec["emotions"], threads=threads
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
    if stage in ("frames", "features"):
        # the job's work after its imports: wall minus this is its start-up (interpreter,
        # imports, exit)
        info["work_s"] = time.perf_counter() - work_from
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    info["rss_mb"] = usage.ru_maxrss / 1024
    info["cpu_s"] = usage.ru_utime + usage.ru_stime
    print("STAGE-RESULT " + json.dumps(info), flush=True)


REPEAT = 3  # --repeat


def run_stage(spec: dict, threads: int) -> dict:
    """Run a stage REPEAT times, each in a fresh process; the fastest run's figures (another
    process on the machine can only slow a run down: the minimum is the least disturbed)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", json.dumps(spec)]
    runs = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=child_env(threads), cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        lines = [x for x in r.stdout.splitlines() if x.startswith("STAGE-RESULT ")]
        if r.returncode != 0 or not lines:
            out = f"{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
            raise SystemExit(f"stage {spec['stage']} failed:\n{out}")
        runs.append({"wall_s": wall, **json.loads(lines[-1].split(" ", 1)[1])})
    return min(runs, key=lambda run: run["wall_s"])


# ------------------------------------------------------------------------------------------
# the benchmark
# ------------------------------------------------------------------------------------------


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_video(entry: dict, model: Path, all_cpus: list[int], peer: bool, tmp: Path) -> list:
    """The rows of one video. ``entry``: label, path, seconds (its length), real (a --video)."""
    video, seconds, key = entry["path"], entry["seconds"], entry["key"]
    one = [all_cpus[0]]
    rows = []

    def chain(cpus: list[int], label: str, override: dict | None = None) -> dict:
        h5 = str(tmp / f"frames_{key}_{label}.h5")
        spec = {"video": video, "cpus": cpus, "frames_h5": h5}
        # as in the workflow, the jobs get their settings from the caller (Snakemake passes the
        # config's values as params), not by parsing the config themselves
        config = workflow_config()
        finder = config["frames"] | (override or {})  # the job keeps face_finder's keys
        fps = config["frames"]["fps"]
        fr = run_stage({**spec, "stage": "frames", "fps": fps, "finder": finder}, len(cpus))
        ft = run_stage(
            {
                **spec,
                "stage": "features",
                "model": str(model),
                "features_h5": h5 + ".f.h5",
                "emotions": config["emotions"],
            },
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
        print(f"  {entry['label']:>8s}  {name:28s} {len(cpus)} core(s) ...", end="", flush=True)
        res = fn()
        print(f" {res['wall_s']:.1f} s", flush=True)
        rows.append(
            {"video": entry["label"], "seconds": seconds, "stage": name, "cores": len(cpus)}
        )
        rows[-1].update(res)
    return rows


def report(rows: list[dict], videos: list[dict]) -> list[str]:
    out = []
    head = (
        f"{'video':>8} {'stage':28s} {'cores':>5} {'wall s':>7} {'frames/s':>9} "
        f"{'x real':>7} {'/floor1':>8} {'x peer':>7} {'RSS MB':>7} {'faces':>6} {'cpu s':>7}"
    )
    for v in videos:
        rs = [r for r in rows if r["video"] == v["label"]]
        s = v["seconds"]
        out.append(f"\n{v['label']}: {v['path']} ({s:.1f} s)")
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
                f"{v['label']:>8s} {r['stage']:28s} {r['cores']:5d} {r['wall_s']:7.2f} {fps:9.1f} "
                f"{s / r['wall_s']:7.1f} {r['wall_s'] / floor1['wall_s']:8.2f} {vs_peer} "
                f"{r['rss_mb']:7.0f} {r.get('n_faces', ''):>6} {r['cpu_s']:7.2f}"
            )
            if "parts" in r:
                for part, name in zip(r["parts"], ("frames job", "features job"), strict=True):
                    start = part["wall_s"] - part["work_s"]
                    out.append(
                        f"{'':8s}   {name:25s} {'':5s} {part['wall_s']:7.2f} {'':9s} {'':7s} "
                        f"{part['wall_s'] / floor1['wall_s']:8.2f} {'':7s} {part['rss_mb']:7.0f} "
                        f"{'':6s} {part['cpu_s']:7.2f}   start-up {start:.2f} s"
                    )
    return out


# Issue #14's targets: (chain time / decode floor at most, chain throughput / peer's at least)
TARGETS = {"demo": (2.0, 10.0), "real": (4.0, 3.0)}
RSS_TARGET_MB = 200


def targets(rows: list[dict], videos: list[dict]) -> list[str]:
    out = ["", "targets:"]

    def get(v, stage, cores):
        return next(
            (
                r
                for r in rows
                if r["video"] == v["label"] and r["stage"] == stage and r["cores"] == cores
            ),
            None,
        )

    for v in videos:
        floor1 = get(v, "decode floor", 1)
        max_floor, min_peer = TARGETS["real" if v["real"] else "demo"]
        lab = f"{v['label']:>8s}"
        for cores in sorted({r["cores"] for r in rows}):
            c = get(v, "chain (frames + features)", cores)
            p = get(v, "peer: fer 25.10.3 (Haar)", cores)
            if cores == 1:
                ratio = c["wall_s"] / floor1["wall_s"]
                out.append(
                    f"  {lab}  chain on 1 core / decode floor on 1 core = {ratio:.2f} "
                    f"(target <= {max_floor:g}): {'met' if ratio <= max_floor else 'MISSED'}; "
                    f"chain {v['seconds'] / c['wall_s']:.1f}x real time (CPU-time ratio "
                    f"{c['cpu_s'] / floor1['cpu_s']:.2f})"
                )
            if p:
                ratio = p["wall_s"] / c["wall_s"]
                out.append(
                    f"  {lab}  chain throughput / peer throughput, {cores} core(s) = "
                    f"{ratio:.1f} (target >= {min_peer:g}): "
                    f"{'met' if ratio >= min_peer else 'MISSED'} (CPU-time ratio "
                    f"{p['cpu_s'] / c['cpu_s']:.1f})"
                )
            out.append(
                f"  {lab}  peak RSS of the chain, {cores} core(s) = {c['rss_mb']:.0f} MB "
                f"(target < {RSS_TARGET_MB}): {'met' if c['rss_mb'] < RSS_TARGET_MB else 'MISSED'}"
            )
    demos = sorted((v for v in videos if not v["real"]), key=lambda v: v["seconds"])
    if len(demos) > 1:
        lo, hi = demos[0], demos[-1]
        for cores in sorted({r["cores"] for r in rows}):
            a = get(lo, "chain (frames + features)", cores)
            b = get(hi, "chain (frames + features)", cores)
            if a and b:
                growth = b["rss_mb"] / a["rss_mb"] - 1
                out.append(
                    f"  peak RSS of the chain, {cores} core(s): {lo['label']} {a['rss_mb']:.0f} "
                    f"MB, {hi['label']} {b['rss_mb']:.0f} MB ({100 * growth:+.1f}%, target "
                    f"within 10%): {'met' if abs(growth) <= 0.10 else 'MISSED'}"
                )
    return out


def main() -> None:
    global REPEAT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--seconds", type=int, nargs="+", help="demo video lengths (default 60 600 without --video)"
    )
    ap.add_argument("--video", nargs="+", default=[], help="video file(s) to process as well")
    ap.add_argument(
        "--model",
        help="the CNN: a built-in pretrained name (fer2013-mini-xception), a .keras file or its "
        ".onnx export (default: an untrained vgg-small, same cost as a trained one)",
    )
    ap.add_argument("--no-peer", action="store_true", help="skip the fer rows")
    ap.add_argument(
        "--repeat",
        type=int,
        default=REPEAT,
        help=f"runs of each stage, the fastest kept (default {REPEAT}; the peer's too)",
    )
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        stage_main(json.loads(args.stage))
        return
    REPEAT = max(1, args.repeat)
    sys.path.insert(0, str(REPO))
    # the package's bytecode, as Python caches it on first import (unless PYTHONDONTWRITEBYTECODE
    # is set, as on some CI machines: then every job would compile the modules it imports again)
    compileall.compile_dir(REPO / "emotiontrack", quiet=1)
    all_cpus = sorted(os.sched_getaffinity(0))
    seconds = args.seconds if args.seconds is not None else ([] if args.video else [60, 600])
    videos = [
        {"label": f"{n} s", "key": f"demo{n}", "path": str(ensure_video(n)), "seconds": float(n)}
        | {"real": False}
        for n in seconds
    ]
    for i, path in enumerate(args.video):
        if not Path(path).is_file():
            raise SystemExit(f"{path}: video not found")
        videos.append(
            {"label": Path(path).stem[:8], "key": f"video{i}", "path": str(path), "real": True}
            | {"seconds": video_seconds(path)}
        )
    peer_module = None if args.no_peer else ensure_peer()
    model = ensure_model(args.model)
    import cv2

    print(
        f"machine: {len(all_cpus)} CPUs, OpenCV {cv2.__version__}, Python {sys.version.split()[0]}"
    )
    print(f"CNN: {args.model or 'untrained vgg-small'}, run from {model}")
    if peer_module:
        print(f"peer: {PEER_SPEC} imported from {peer_module}")
    print(f"load average before: {load()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="et-bench-") as tmp:
        for v in videos:
            rows += bench_video(v, model, all_cpus, not args.no_peer, Path(tmp))
    lines = report(rows, videos) + targets(rows, videos)
    lines.append(f"load average after: {load()}")
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    cols = ["video", "seconds", "stage", "cores", "wall_s", "cpu_s", "sampled", "n_faces", "rss_mb"]
    with open(RESULTS / "throughput.tsv", "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(str(r.get(c, "")) for c in cols) + "\n")


if __name__ == "__main__":
    main()
