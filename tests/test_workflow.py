"""End to end: a tiny demo study through `snakemake`, asserting on what it produced."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import h5py
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import EMOTIONS, REPO
from studies import SNAKEMAKE, prepare, sessions, snakemake

pytestmark = pytest.mark.e2e

SESSIONS = sessions("tiny")


def write_study(d: Path, extra_rows: list[str] = ()) -> Path:
    """The tiny study (.test/tiny) laid out in ``d``."""
    return prepare("tiny", d, extra_rows=extra_rows)


def test_frames_hdf5(study):
    with h5py.File(study / "results/frames/user03_condB.h5") as h5:
        T = h5["face_found"].shape[0]
        assert T == 50  # 10 s at 5 FPS
        assert h5["faces"].shape == (T, 128, 128) and h5["faces"].dtype == np.uint8
        assert h5["timestamps"].dtype == np.float64 and h5["boxes"].shape == (T, 4)
        assert np.allclose(np.diff(h5["timestamps"][...]), 0.2, atol=1e-6)
        found = h5["face_found"][...]
        assert (h5["boxes"][...][~found] == -1).all() and (h5["boxes"][...][found, 2] > 40).all()
        assert h5["faces"][...][found].mean() > 20 and (h5["faces"][...][~found] == 0).all()
        assert h5.attrs["fps"] == 5


def test_detection_rate_on_demo_videos(study):
    found = visible = 0
    for p, c, _ in SESSIONS:
        ann = pd.read_csv(study / f"resources/demo/annotations/{p}_{c}.csv")
        with h5py.File(study / f"results/frames/{p}_{c}.h5") as h5:
            t, f = h5["timestamps"][...], h5["face_found"][...]
        row = np.searchsorted(ann["start_s"].to_numpy(), t, side="right") - 1
        vis = ann["face_visible"].to_numpy()[row] == 1
        found += int(f[vis].sum())
        visible += int(vis.sum())
    assert visible > 150
    assert found / visible >= 0.95, f"detection rate {found / visible:.3f} on visible frames"


def test_features_record_provenance(study):
    with h5py.File(study / "results/features/user03_condB.h5") as h5:
        p, found = h5["probabilities"][...], h5["face_found"][...]
        assert h5["features"].dtype == np.float32 and h5["features"].shape[0] == len(found)
        assert np.allclose(p[found].sum(axis=1), 1, atol=1e-4) and np.isnan(p[~found]).all()
        with h5py.File(study / "results/frames/user03_condB.h5") as fr:
            assert h5.attrs["source_sha256"] == fr.attrs["source_sha256"]
        import hashlib

        from emotiontrack.inference import OnnxModel

        model = (study / "results/models/cnn.onnx").read_bytes()
        assert h5.attrs["model_sha256"] == hashlib.sha256(model).hexdigest()
        keras_model = (study / "results/models/cnn.keras").read_bytes()  # what was exported
        onnx_meta = OnnxModel(study / "results/models/cnn.onnx").metadata
        assert onnx_meta["source_sha256"] == hashlib.sha256(keras_model).hexdigest()
        assert h5.attrs["fps"] == 5
        # the trained CNN's own crop (fer.crop_margin, its input size), cut from the wide crops
        crop = json.loads((study / "results/models/cnn_crop.json").read_text())
        assert json.loads(h5.attrs["crop_geometry"]) == {
            "size": 48,
            "margin": 0.1,
            "flip_average": False,
            "square": True,
        }
        assert (crop["size"], crop["margin"]) == (48, 0.1)
    with h5py.File(study / "results/features/augmented/user01_condA.h5") as h5:
        assert h5["features"].shape[:2] == (1, 50)
    pl = json.loads((study / "results/pseudolabels/user01_condA.json").read_text())
    assert len(pl["frames"]) == 50 and set(pl["counts"]) == set(EMOTIONS)


def test_predictions_timeline(study):
    df = pd.read_csv(study / "results/predictions/user03_condB.csv")
    assert list(df.columns) == [
        "time_s",
        "frame_index",
        "face_found",
        *EMOTIONS,
        "label",
        "cnn_label",
        "cnn_confidence",
    ]
    assert len(df) == 50
    has = df[EMOTIONS].notna().all(axis=1)
    assert has.sum() >= df["face_found"].sum() > 35
    assert np.allclose(df.loc[has, EMOTIONS].sum(axis=1), 1, atol=1e-3)
    assert set(df.loc[has, "label"]) <= set(EMOTIONS)


def test_trend_chart_and_series(study):
    img = mpimg.imread(study / "results/trends/user03_condB.png")
    assert img.shape[1] >= 1000 and img.shape[0] >= 500
    assert img[..., :3].std() > 0.05  # not a blank canvas
    series = pd.read_csv(study / "results/trends/user03_condB.csv")
    assert len(series) == 50 and {"time_s", *EMOTIONS, "dominant"} <= set(series.columns)
    assert (study / "results/frames/user03_condB_contact.png").stat().st_size > 10_000


def test_evaluation_reports(study):
    m = json.loads((study / "results/evaluation/metrics.json").read_text())
    assert m["sessions_evaluated"] == ["user03_condA", "user03_condB"]
    face = m["pooled"]["face_frames"]
    for model in ("cnn", "chosen"):
        assert 0 <= face[model]["accuracy"] <= 1 and 0 <= face[model]["macro_f1"] <= 1
        assert len(face[model]["confusion"]) == 7
    assert face["n"] > 60
    assert m["pooled"]["detection"]["detection_rate"] >= 0.95
    md = (study / "results/evaluation/summary.md").read_text()
    assert f"{face['cnn']['accuracy']:.3f}" in md
    comparison = m["comparison"]
    order = ["cnn", "moving_average", "median", "hmm", "refine", "lstm"]  # .test/tiny: 2 models
    methods = set(order)
    # every method under its own name, on the same frames, and the predictions' own labels
    assert m["methods"] == [*order, "chosen"]
    assert set(face) == {"n", *methods, "chosen"} and set(m["pooled"]["all_frames"]) == set(face)
    assert set(comparison["ranking_by_macro_f1"]) == methods
    assert comparison["n_frames"] == face["n"]
    # no validation sessions: the default refine model made the predictions, and the report
    # says so first
    assert m["chosen_method"]["method"] == "refine"
    assert face["refine"]["accuracy"] == face["chosen"]["accuracy"]
    assert md.splitlines()[2].startswith("**Predictions (`label`, trend charts) were made by:")
    assert "Does temporal modelling help?" in md and "CNN + HMM (Viterbi)" in md
    for png in ("comparison.png", "features_embedding.png", "confusion_chosen.png"):
        assert mpimg.imread(study / "results/evaluation" / png).shape[1] > 300
    cnn = json.loads((study / "results/cnn/test_metrics.json").read_text())
    assert cnn["accuracy"] > 1 / 7 and set(cnn["per_class"]) == set(EMOTIONS)
    for png in (
        "cnn/confusion_matrix.png",
        "cnn/training_curves.png",
    ):
        assert mpimg.imread(study / "results" / png).shape[1] > 300


def test_complete_run_leaves_nothing_to_do(study):
    r = snakemake(study, "-n")
    assert "Nothing to be done" in r.stdout + r.stderr


def dry_run_jobs(d: Path) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would execute."""
    r = snakemake(d, "-n")
    jobs = []
    for line in (r.stdout + r.stderr).splitlines():
        s = line.strip()
        if s.startswith(("rule ", "localrule ")) and s.endswith(":"):
            jobs.append([s.split()[1].rstrip(":"), ""])
        elif s.startswith("wildcards:") and jobs:
            jobs[-1][1] = s.removeprefix("wildcards:").strip()
    return sorted(map(tuple, jobs))


def test_changed_video_reruns_only_its_chain(study, tmp_path):
    d = tmp_path / "study"  # a copy: the shared study stays complete for the other tests
    shutil.copytree(study, d, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    video = d / "resources/demo/videos/user03_condB.mp4"
    shutil.copyfile(d / "resources/demo/videos/user03_condA.mp4", video)  # new content
    wc = "participant=user03, condition=condB"
    assert dry_run_jobs(d) == sorted(
        [
            (r, wc)
            for r in ("contact_sheet", "extract_features", "extract_frames", "predict", "trends")
        ]
        + [("predict_compared", f"model={m}, {wc}") for m in ("lstm", "refine")]
        + [("all", ""), ("evaluate_study", ""), ("study_sessions", ""), ("study_conditions", "")]
    )


def test_lint_is_clean():
    r = subprocess.run([*SNAKEMAKE, "--lint", "-n"], capture_output=True, text=True, cwd=REPO)
    assert "Congratulations, your workflow is in a good condition!" in r.stdout + r.stderr, (
        r.stdout + r.stderr
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda cfg, sheet: cfg.update(frames={"fps": -1}),
            "-1 is less than or equal to the minimum of 0",
        ),
        (lambda cfg, sheet: cfg.update(colour="red"), "'colour' was unexpected"),
        (
            lambda cfg, sheet: sheet.append("user01\tcondA\tresources/demo/videos/x.mp4\ttest\t"),
            "duplicate session user01/condA",
        ),
        (
            lambda cfg, sheet: sheet.append("user09\tcondA\tdata/nope.mp4\ttest\t"),
            "video file 'data/nope.mp4' does not exist",
        ),
    ],
)
def test_bad_config_or_sheet_stops_before_any_job(tmp_path, edit, message):
    write_study(tmp_path)
    cfg = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    sheet = (tmp_path / "config/sessions.tsv").read_text().splitlines()
    edit(cfg, sheet)
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "config/sessions.tsv").write_text("\n".join(sheet) + "\n")
    r = snakemake(tmp_path, "-n", check=False)
    assert r.returncode != 0
    assert message in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    assert not (tmp_path / "results").exists()


def test_bad_and_faceless_videos_fail_only_their_own_jobs(study, tmp_path, noface_video):
    """The finished study plus a corrupt video and a video with no face: the corrupt session
    fails with a message naming the file, the faceless one yields flagged-empty outputs, and
    nothing else is lost or redone (the other sessions' outputs are kept as they were)."""
    d = tmp_path / "study2"
    shutil.copytree(study, d, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    (d / "data").mkdir()
    (d / "data/user04_condA.mp4").write_bytes(b"this is not a video\n" * 50)
    shutil.copyfile(noface_video, d / "data/user05_condA.mp4")
    write_study(
        d,
        [
            "user04\tcondA\tdata/user04_condA.mp4\tpredict-only\t",
            "user05\tcondA\tdata/user05_condA.mp4\tpredict-only\t",
        ],
    )
    kept = {
        p: p.stat().st_mtime_ns
        for p in [
            *(d / "results/predictions").glob("user0[123]_*.csv"),
            d / "results/models/cnn.keras",
        ]
    }
    r = snakemake(d, "--keep-going", check=False)
    assert r.returncode != 0
    log = (d / "logs/extract_frames/user04_condA.log").read_text()
    assert "data/user04_condA.mp4" in log and "not a readable video" in log
    assert not (d / "results/frames/user04_condA.h5").exists()
    for p, c, _ in SESSIONS:
        assert (d / f"results/trends/{p}_{c}.png").exists()
    assert (d / "results/evaluation/metrics.json").exists()
    empty = pd.read_csv(d / "results/predictions/user05_condA.csv")
    assert (
        len(empty) == 15 and empty["face_found"].sum() == 0 and empty[EMOTIONS].isna().all().all()
    )
    assert (d / "results/trends/user05_condA.png").stat().st_size > 10_000
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # nothing else redone
    assert "train_cnn" not in r.stdout + r.stderr and "train_sequence" not in r.stdout + r.stderr


def test_report_builds_and_renders(study, tmp_path):
    """`snakemake --report` on the tiny study: every figure with its caption, captions naming the
    CNN and the method actually used; the page renders in headless Chromium where it is
    installed (make test installs it as root)."""
    import shutil
    import zipfile

    report = tmp_path / "report.zip"
    snakemake(study, "--report", str(report))
    with zipfile.ZipFile(report) as z:
        names = z.namelist()
        html = z.read(next(n for n in names if n.endswith("report.html"))).decode()
    # figures are stored as report/data/raw/<hash>/<file name>
    for figure in ("user03_condB.png", "comparison.png", "confusion_matrix.png"):
        assert any(n.endswith(f"/{figure}") for n in names), (figure, names[:50])
    assert "trained on the FER set" in html and "vgg-small" in html  # the CNN actually used
    assert "MediaPipe BlazeFace" in html and "OpenCV Haar" not in html
    assert "an LSTM" not in html
    exe = shutil.which("chromium")
    if exe is None:
        return  # the content checks above still ran
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    out = tmp_path / "unpacked"
    with zipfile.ZipFile(report) as z:
        z.extractall(out)
    page_file = next(out.rglob("report.html"))
    errors = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe)
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("networkidle")
        text = page.inner_text("body")
        browser.close()
    assert not errors, errors
    assert "EmotionTrack" in text and "Emotion trends" in text, text[:2000]


def test_code_records_list_each_scripts_modules_and_match_the_checkout(study):
    """results/code/<script>.sha256 (rules/code.smk): the package modules the script runs, each
    with its hash; `sha256sum --check` in the checkout that made the study finds them all OK."""
    from emotiontrack.codedeps import package_files

    records = sorted((study / "results/code").glob("*.sha256"))
    assert {"extract_frames", "extract_features", "predict", "trends"} <= {r.stem for r in records}
    for record in records:
        names = [line.split("  ", 1)[1] for line in record.read_text().splitlines()]
        modules = package_files(REPO / "workflow_scripts" / f"{record.stem}.py")
        assert names == [str(Path(m).relative_to(REPO)) for m in modules], record
        check = subprocess.run(["sha256sum", "--check", record], cwd=REPO, capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr
    trends = (study / "results/code/trends.sha256").read_text()
    assert "emotiontrack/trends.py" in trends and "emotiontrack/cnn.py" not in trends


def test_editing_a_package_module_reruns_only_the_jobs_using_it(study, tmp_path):
    """Rules take the record of the package modules their scripts run (rules/code.smk): an edit
    to emotiontrack/trends.py rewrites the record of the one script running it and reruns the
    trend charts, nothing else."""
    code = tmp_path / "workflow"
    code.mkdir()
    for part in (
        "Snakefile",
        "rules",
        "emotiontrack",
        "workflow_scripts",
        "config",
        "report",
        "envs",
    ):
        src = REPO / part
        if src.is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(src, code / part, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(src, code / part)
    d = tmp_path / "study"
    shutil.copytree(study, d, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    # the copy's code files have other paths than the ones recorded (a changed input set):
    # only their modification times are compared here
    run = [*SNAKEMAKE[:3], "-s", str(code / "Snakefile"), "-d", str(d), "--rerun-triggers", "mtime"]
    before = subprocess.run([*run, "-n"], capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in before.stdout + before.stderr, before.stdout[-3000:]
    with open(code / "emotiontrack/trends.py", "a") as f:
        f.write("\n# edited\n")
    after = subprocess.run([*run, "--summary"], capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stderr[-3000:]
    lines = [line.split("\t") for line in after.stdout.splitlines() if "\t" in line]
    head, rows = lines[0], [dict(zip(lines[0], r, strict=False)) for r in lines[1:]]
    assert "rule" in head and "plan" in head, head
    pending = [r for r in rows if r["plan"].strip() != "no update"]
    assert {r["rule"] for r in pending} == {"code_record", "trends"}, pending
    records = [r["output_file"] for r in pending if r["rule"] == "code_record"]
    assert records == ["results/code/trends.sha256"], records
    jobs = [r["output_file"] for r in pending if r["output_file"].endswith(".png")]
    assert sorted(jobs) == sorted(f"results/trends/{p}_{c}.png" for p, c, _ in SESSIONS), jobs
