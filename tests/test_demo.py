"""Tests of the synthetic demo-study generator (emotiontrack.demo).

Videos are short except one shared 30 s video (look-aways are guaranteed only from 3 s on, and
the brief asks for both visibility values in a 30 s video). The whole file runs in well under a
minute on one core.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotiontrack import demo
from emotiontrack.demo.timeline import _mix_for
from emotiontrack.faces import FaceDetector, face_finder, to_gray
from emotiontrack.labels import FER2013_CODES

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _read_annotation(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["start_s", "end_s", "emotion", "face_visible"]
        return [
            {
                "start_s": float(r["start_s"]),
                "end_s": float(r["end_s"]),
                "emotion": r["emotion"],
                "face_visible": int(r["face_visible"]),
            }
            for r in reader
        ]


def _visible_at(rows: list[dict], t: float) -> int:
    for r in rows:
        if r["start_s"] <= t < r["end_s"]:
            return r["face_visible"]
    return rows[-1]["face_visible"]  # the last interval is closed at its end


def _decode(path: Path, every: int = 1) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames, i = [], 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                frames.append(frame)
            i += 1
    finally:
        cap.release()
    return frames


def _frames_digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    frames = _decode(path)
    for f in frames:
        h.update(f.tobytes())
    return len(frames), h.hexdigest()


def _read_fer(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    y = np.array([int(r[0]) for r in rows])
    pixels = [r[1].split(" ") for r in rows]
    assert all(len(p) == 48 * 48 for p in pixels)
    X = np.array(pixels, dtype=np.int64)
    usage = np.array([r[2] for r in rows])
    return header, X, y, usage


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> dict:
    """One 30 s session (condA), shared by the detection and annotation tests."""
    d = tmp_path_factory.mktemp("video30")
    vp, ap = d / "p01_condA.mp4", d / "p01_condA.csv"
    stats = demo.make_session_video(vp, ap, "p01", "condA", seed=0, duration_s=30.0)
    return {"video": vp, "annotation": ap, "stats": stats}


# --------------------------------------------------------------------------------------------
# API basics
# --------------------------------------------------------------------------------------------


def test_emotions_follow_fer2013_codes() -> None:
    assert demo.EMOTIONS == [FER2013_CODES[i] for i in range(7)]
    assert demo.EMOTIONS == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for cond in ("condA", "condB"):
        assert set(demo.DEFAULT_MIXES[cond]) <= set(demo.EMOTIONS)


def test_identity_is_deterministic_per_name_and_seed() -> None:
    a = demo.identity_for("p01", 0)
    assert a == demo.identity_for("p01", 0)
    assert a != demo.identity_for("p02", 0)
    assert a != demo.identity_for("p01", 1)


def test_render_face_draws_a_detectable_face_deterministically() -> None:
    ident = demo.identity_for("p01", 0)
    canvases = []
    for _ in range(2):
        c = np.full((240, 240, 3), 128, np.uint8)
        demo.render_face(c, (120, 110), 110, 5.0, {"happy": 1.0}, ident, np.random.default_rng(3))
        canvases.append(c)
    assert np.array_equal(canvases[0], canvases[1])
    assert (canvases[0] != 128).any(axis=2).mean() > 0.2  # something face-sized was drawn
    box = FaceDetector().detect(to_gray(canvases[0]))
    assert box is not None
    x, y, w, h = box
    assert abs(x + w / 2 - 120) < 25 and abs(y + h / 2 - 110) < 30
    with pytest.raises(ValueError):
        demo.render_face(
            canvases[0], (120, 110), 110, 0, {"joy": 1.0}, ident, np.random.default_rng()
        )


def test_expressions_change_the_face() -> None:
    ident = demo.identity_for("p03", 0)
    imgs = {}
    for e in demo.EMOTIONS:
        c = np.full((200, 200, 3), 128, np.uint8)
        demo.render_face(c, (100, 95), 100, 0.0, {e: 1.0}, ident, np.random.default_rng(0))
        imgs[e] = to_gray(c).astype(np.float64)
    for i, a in enumerate(demo.EMOTIONS):
        for b in demo.EMOTIONS[i + 1 :]:
            assert np.abs(imgs[a] - imgs[b]).mean() > 0.5, (a, b)


# --------------------------------------------------------------------------------------------
# videos
# --------------------------------------------------------------------------------------------


def test_video_properties_and_stats(long_video) -> None:
    st = long_video["stats"]
    assert st["n_frames"] == 900 and st["fps"] == 30.0 and st["duration_s"] == pytest.approx(30.0)
    cap = cv2.VideoCapture(str(long_video["video"]))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640
        assert int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 480
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0, abs=0.01)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        # FFmpeg reports the MPEG-4 Part 2 stream written with fourcc 'mp4v' as FMP4
        assert fourcc.to_bytes(4, "little").decode().lower() in ("mp4v", "fmp4")
    finally:
        cap.release()
    assert sum(st["emotion_seconds"].values()) == pytest.approx(30.0)
    assert 0.6 < st["visible_fraction"] < 1.0


def test_annotation_covers_duration_contiguously(long_video) -> None:
    rows = _read_annotation(long_video["annotation"])
    assert rows[0]["start_s"] == 0.0
    assert rows[-1]["end_s"] == pytest.approx(30.0, abs=1e-4)
    for prev, cur in zip(rows, rows[1:], strict=False):
        assert cur["start_s"] == prev["end_s"]  # contiguous, no overlap
        assert (cur["emotion"], cur["face_visible"]) != (prev["emotion"], prev["face_visible"])
    for r in rows:
        assert r["start_s"] < r["end_s"]
        assert r["emotion"] in demo.EMOTIONS
        assert r["face_visible"] in (0, 1)
    assert {r["face_visible"] for r in rows} == {0, 1}  # look-aways / occlusions exist
    # annotation agrees with the returned per-emotion seconds (to half a frame per boundary)
    secs = dict.fromkeys(demo.EMOTIONS, 0.0)
    for r in rows:
        secs[r["emotion"]] += r["end_s"] - r["start_s"]
    for e in demo.EMOTIONS:
        assert secs[e] == pytest.approx(long_video["stats"]["emotion_seconds"][e], abs=0.2)


@pytest.mark.parametrize("detector", ["blazeface", "haar"])
def test_face_detection_rate_on_visible_frames(long_video, detector) -> None:
    """5 fps sampling (every 6th frame at 30 fps) as the pipeline does it; both detectors."""
    rows = _read_annotation(long_video["annotation"])
    det = face_finder(detector=detector, track=False)
    hits = {0: [], 1: []}
    for k, frame in enumerate(_decode(long_video["video"], every=6)):
        vis = _visible_at(rows, k * 6 / 30.0)
        hits[vis].append(det.detect(to_gray(frame)) is not None)
    assert len(hits[1]) >= 100 and len(hits[0]) >= 3
    rate = float(np.mean(hits[1]))
    assert rate >= 0.95, f"detection rate on visible frames {rate:.3f}"


def test_video_is_deterministic_and_seed_dependent(tmp_path) -> None:
    kw = {"participant": "p07", "condition": "condB", "duration_s": 3.0}
    a = demo.make_session_video(tmp_path / "a.mp4", tmp_path / "a.csv", seed=5, **kw)
    b = demo.make_session_video(tmp_path / "b.mp4", tmp_path / "b.csv", seed=5, **kw)
    demo.make_session_video(tmp_path / "c.mp4", tmp_path / "c.csv", seed=6, **kw)
    assert a == b
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    da, db, dc = (_frames_digest(tmp_path / f"{n}.mp4") for n in "abc")
    assert da[0] == 90 and da == db
    assert dc != da
    assert (tmp_path / "c.csv").read_bytes() != (tmp_path / "a.csv").read_bytes()


def test_same_participant_in_both_conditions_and_mixes_differ(long_video, tmp_path) -> None:
    """condA (positive) and condB (negative) emotion seconds differ; the person looks the same."""
    st_b = demo.make_session_video(
        tmp_path / "b.mp4", tmp_path / "b.csv", "p01", "condB", seed=0, duration_s=15.0
    )
    st_a = long_video["stats"]

    def positive_share(st: dict) -> float:
        s = st["emotion_seconds"]
        return (s["happy"] + s["surprise"]) / sum(s.values())

    def negative_share(st: dict) -> float:
        s = st["emotion_seconds"]
        return (s["sad"] + s["angry"] + s["fear"] + s["disgust"]) / sum(s.values())

    assert positive_share(st_a) > positive_share(st_b) + 0.3
    assert negative_share(st_b) > negative_share(st_a) + 0.3
    # unknown condition names get a deterministic mix of their own
    assert np.allclose(_mix_for("condX", None), _mix_for("condX", None))
    assert not np.allclose(_mix_for("condX", None), _mix_for("condY", None))
    # a custom mix restricts the emotions shown
    st = demo.make_session_video(
        tmp_path / "m.mp4",
        tmp_path / "m.csv",
        "p01",
        "custom",
        duration_s=4.0,
        emotion_mix={"happy": 1.0, "neutral": 1.0},
    )
    assert {e for e, s in st["emotion_seconds"].items() if s > 0} <= {"happy", "neutral"}


# --------------------------------------------------------------------------------------------
# FER2013-format CSV
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("fer") / "fer.csv"
    stats = demo.make_fer_csv(path, n_images=560, seed=0)
    return path, stats


def test_fer_csv_format_and_splits(fer_csv) -> None:
    path, stats = fer_csv
    assert path.read_text().splitlines()[0] == "emotion,pixels,Usage"
    header, X, y, usage = _read_fer(path)
    assert header == ["emotion", "pixels", "Usage"]
    assert len(y) == 560 == stats["n_images"]
    assert X.min() >= 0 and X.max() <= 255 and X.std() > 10
    assert set(usage) == {"Training", "PublicTest", "PrivateTest"}
    for split in ("Training", "PublicTest", "PrivateTest"):
        assert set(y[usage == split]) == set(range(7)), split
    frac = {s: float(np.mean(usage == s)) for s in ("Training", "PublicTest", "PrivateTest")}
    assert frac["Training"] == pytest.approx(0.8, abs=0.03)
    assert frac["PublicTest"] == pytest.approx(0.1, abs=0.02)
    counts = np.bincount(y, minlength=7)
    assert counts[1] < counts[3] / 3  # disgust much rarer than happy
    assert counts.argmax() == 3  # happy most frequent
    for split, per in stats["counts"].items():
        for e, n in per.items():
            assert n == int(np.sum((usage == split) & (y == demo.EMOTIONS.index(e))))
    assert stats["detector_misses"] < 0.05 * 560


def test_fer_csv_is_deterministic(tmp_path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    demo.make_fer_csv(a, n_images=42, seed=1)
    demo.make_fer_csv(b, n_images=42, seed=1)
    demo.make_fer_csv(c, n_images=42, seed=2)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    with pytest.raises(ValueError):
        demo.make_fer_csv(tmp_path / "d.csv", n_images=10)
    # made in parts (the workflow's demo_fer_part jobs, side by side) and joined: the same file
    parts = [tmp_path / f"part{k}.csv" for k in range(3)]
    sizes = [
        demo.make_fer_csv(f, n_images=42, seed=1, part=k, parts=3)["n_images"]
        for k, f in enumerate(parts)
    ]
    assert sizes == [14, 14, 14]
    joined = demo.join_fer_parts(parts, tmp_path / "joined.csv")
    assert (tmp_path / "joined.csv").read_bytes() == a.read_bytes()
    assert joined["n_images"] == 42 and sum(joined["per_class"].values()) == 42
    with pytest.raises(ValueError):
        demo.make_fer_csv(tmp_path / "e.csv", n_images=42, part=3, parts=3)


def test_fer_expressions_are_learnable(fer_csv) -> None:
    """A linear classifier on HOG features of the 48x48 crops beats chance (1/7) by far, even
    with a few hundred training images (weak expressions and label noise keep it below 100%)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    path, _ = fer_csv
    _, X, y, usage = _read_fer(path)
    hog = cv2.HOGDescriptor((48, 48), (16, 16), (8, 8), (8, 8), 9)
    feats = np.stack([hog.compute(x.astype(np.uint8)).ravel() for x in X.reshape(-1, 48, 48)])
    train = usage == "Training"
    scaler = StandardScaler().fit(feats[train])
    clf = LogisticRegression(C=0.05, max_iter=3000).fit(scaler.transform(feats[train]), y[train])
    acc = clf.score(scaler.transform(feats[~train]), y[~train])
    assert 0.5 < acc < 0.99, f"test accuracy {acc:.3f}"


# --------------------------------------------------------------------------------------------
# layout: short functions, out of the pipeline's path
# --------------------------------------------------------------------------------------------

PACKAGE = Path(demo.__file__).parent
MAX_FUNCTION_LINES = 80


def _functions(path: Path) -> list[tuple[str, int]]:
    """(qualified name, lines from ``def`` to the last line of its body) of every function and
    method in a module, nested ones included."""
    out = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((prefix + child.name, child.end_lineno - child.lineno + 1))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(path.read_text(), str(path)), "")
    return out


def test_demo_functions_are_short() -> None:
    """No function of the demo generator is longer than MAX_FUNCTION_LINES (docstring included)."""
    modules = sorted(PACKAGE.glob("*.py"))
    assert {p.stem for p in modules} >= {"expressions", "identities", "face", "scene", "videos"}
    lengths = {f"{p.stem}.{name}": n for p in modules for name, n in _functions(p)}
    assert "videos.make_session_video" in lengths and len(lengths) > 50
    long = {name: n for name, n in lengths.items() if n > MAX_FUNCTION_LINES}
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_pipeline_does_not_import_the_demo() -> None:
    """Only the demo rules' scripts import emotiontrack.demo; the pipeline's modules never do."""
    root = PACKAGE.parent.parent
    files = [p for p in (root / "emotiontrack").glob("*.py")]
    files += [p for p in (root / "workflow_scripts").glob("*.py") if not p.stem.startswith("demo_")]
    assert len(files) > 20
    importers = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "emotiontrack.demo" or n.startswith("emotiontrack.demo.") for n in names):
                importers.append(path.relative_to(root))
    assert not importers, f"the pipeline imports the demo generator: {importers}"


def _rules(directory: Path) -> set[str]:
    """The rules the workflow defines for the study in ``directory`` (snakemake --list-rules)."""
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(PACKAGE.parents[1] / "Snakefile")]
        + ["-d", str(directory), "--list-rules"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return {line.strip() for line in r.stdout.splitlines() if line.strip()}


def test_demo_rules_only_for_a_study_of_generated_data(real_media, tmp_path) -> None:
    """rules/demo.smk is included for the demo study; not for the real-clip pilot (its sheet and
    its pretrained CNN need nothing from resources/demo/), unless its CNN is trained on the
    generated FER set (fer.path's default)."""
    demo_rules = {"demo_fer_part", "demo_fer_dataset", "demo_video"}
    assert demo_rules <= _rules(PACKAGE.parents[1])
    (tmp_path / "config").mkdir()
    (tmp_path / "media").mkdir()
    shutil.copy(PACKAGE.parents[1] / ".test/pilot/sessions.tsv", tmp_path / "config")
    for line in (tmp_path / "config/sessions.tsv").read_text().splitlines()[1:]:
        clip = Path(line.split("\t")[2]).name
        (tmp_path / "media" / clip).symlink_to(real_media / clip)
    shutil.copy(PACKAGE.parents[1] / "tests/data/WolfgangLanger_Pexels.csv", tmp_path / "media")
    config = (PACKAGE.parents[1] / ".test/pilot/config.yaml").read_text()
    (tmp_path / "config/config.yaml").write_text(config)
    rules = _rules(tmp_path)
    assert "extract_frames" in rules and not rules & demo_rules
    trained = config.replace("pretrained: fer2013-mini-xception", 'pretrained: ""')
    assert trained != config
    (tmp_path / "config/config.yaml").write_text(trained)
    assert demo_rules <= _rules(tmp_path)
