"""Labelled clips, data: the demo clip sets, the loaders (on the demo sets, on real faces and on
broken inputs), the split by subject, resampling, the valence/arousal clusters, and the
clip-only test study's dry run and lint."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from studies import prepare, snakemake

from emotiontrack import UserInputError
from emotiontrack.clips import loaders, va
from emotiontrack.clips.demo import AFEWVA_EXPRESSIONS, CKPLUS_CLASSES, make_demo_clips
from emotiontrack.formats import read_clips, write_clips

TINY = {"subjects": 4, "clips_per_class": 1, "frames": 5, "seed": 3}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The three demo sets, tiny (4 subjects, one 5-frame clip per class each)."""
    root = tmp_path_factory.mktemp("clips")
    for fmt in ("ckplus", "cremad", "afewva"):
        make_demo_clips(fmt, root / fmt, **TINY)
    return root


@pytest.fixture(scope="module")
def afewva_clusters(demo) -> dict:
    ids, subjects, means = loaders.clip_va_means(demo / "afewva")
    return va.cluster_va(ids, subjects, means, k=5, seed=0)


# ---- demo generators


def test_demo_layouts_are_the_real_ones(demo):
    ck = sorted(p.relative_to(demo / "ckplus").as_posix() for p in (demo / "ckplus").rglob("*.png"))
    assert len(ck) == 4 * len(CKPLUS_CLASSES) * 5
    assert ck[0] == "anger/S010_001_00000001.png"
    assert all(loaders.CKPLUS_NAME.match(Path(p).stem) for p in ck)
    vids = sorted(p.name for p in (demo / "cremad").iterdir())
    assert len(vids) == 4 * 6 and vids[0] == "1001_IEO_ANG_LO.mp4"
    assert {v.split("_")[2] for v in vids} == {"ANG", "DIS", "FEA", "HAP", "NEU", "SAD"}
    cap = cv2.VideoCapture(str(demo / "cremad" / vids[0]))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 5
    doc = json.loads((demo / "afewva/001/001.json").read_text())
    assert doc["actor"] == "actor01" and sorted(doc["frames"]) == [f"{i:05d}" for i in range(5)]
    first = doc["frames"]["00000"]
    assert np.asarray(first["landmarks"]).shape == (68, 2)
    assert all(-10 <= first[k] <= 10 and isinstance(first[k], int) for k in ("valence", "arousal"))
    assert (demo / "afewva/001/00004.png").is_file()


def test_demo_sequences_go_from_neutral_to_the_peak(demo):
    """A CK+ sequence's face changes most between its first and last frames; AFEW-VA's valence
    and arousal grow with the expression's intensity along the clip."""
    frames = sorted((demo / "ckplus/happy").glob("S010_*.png"))
    imgs = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).astype(float) for f in frames]
    assert np.abs(imgs[-1] - imgs[0]).mean() > np.abs(imgs[-1] - imgs[-2]).mean()
    for clip in ("002", "004"):  # happy and angry of the first actor
        doc = json.loads((demo / f"afewva/{clip}/{clip}.json").read_text())
        size = [np.hypot(f["valence"], f["arousal"]) for f in doc["frames"].values()]
        assert size[0] <= 1 and size[-1] >= 3 and size[-1] >= size[0]


def test_demo_valence_arousal_vary_within_a_class(demo):
    ids, subjects, means = loaders.clip_va_means(demo / "afewva")
    emotions = list(AFEWVA_EXPRESSIONS)
    per = {e: means[i :: len(emotions)] for i, e in enumerate(emotions)}  # clips in class order
    for e in ("happy", "angry", "sad"):
        radius = np.hypot(*per[e].T)
        assert radius.max() - radius.min() > 0.05, (e, per[e])
        v, a = AFEWVA_EXPRESSIONS[e]
        assert np.all(np.sign(per[e][:, 0]) == np.sign(v)) and np.all(
            np.sign(per[e][:, 1]) == np.sign(a)
        )
    assert np.abs(per["neutral"]).max() < 0.1


def test_demo_sets_are_deterministic(tmp_path):
    a = make_demo_clips("ckplus", tmp_path / "a", subjects=1, clips_per_class=1, frames=3, seed=5)
    make_demo_clips("ckplus", tmp_path / "b", subjects=1, clips_per_class=1, frames=3, seed=5)
    make_demo_clips("ckplus", tmp_path / "c", subjects=1, clips_per_class=1, frames=3, seed=6)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert a["clips"] == 6 and len(files) == 18
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert any(
        (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in files
    )


# ---- loaders on the demo sets


def _no_subject_in_two_splits(cs) -> None:
    for s in np.unique(cs.subjects):
        assert len(set(cs.split[cs.subjects == s])) == 1, s


def test_ckplus_demo_loads_as_given_crops(demo, tmp_path):
    cs = loaders.load_clips("ckplus", demo / "ckplus", length=8, detect=False, seed=1)
    assert cs.classes == sorted(CKPLUS_CLASSES) and len(cs) == 24
    assert cs.faces.shape == (24, 8, loaders.GIVEN_CROP_SIZE, loaders.GIVEN_CROP_SIZE)
    # 5 frames into 8: the last 3 padded, not present, blank
    assert cs.present[:, :5].all() and not cs.present[:, 5:].any()
    assert cs.faces[:, 5:].max() == 0 and cs.faces[:, :5].std() > 10
    assert np.isnan(cs.valence).all() and cs.landmarks is None
    assert set(cs.subjects) == {"S010", "S015", "S020", "S025"}
    assert cs.clip_ids[0] == "S010_001" and cs.classes[cs.labels[0]] == "anger"
    _no_subject_in_two_splits(cs)
    assert set(cs.split) == {"train", "validation", "test"}
    assert set(cs.labels[cs.split == "train"]) == set(range(6))
    write_clips(tmp_path / "c.h5", cs)
    back = read_clips(tmp_path / "c.h5", split="test")
    assert back.attrs["format"] == "ckplus" and back.attrs["margin"] == 0.0
    assert json.loads(back.attrs["fer_names"])[0] == "angry"
    assert np.array_equal(back.faces, cs.faces[cs.split == "test"])


def test_cremad_demo_faces_found_and_cropped_as_the_frames_stage(demo):
    cs = loaders.load_clips(
        "cremad", demo / "cremad", length=3, detect=True, validation_fraction=0, seed=2
    )
    assert cs.classes == ["angry", "disgust", "fear", "happy", "neutral", "sad"]
    assert cs.faces.shape == (24, 3, 128, 128) and cs.present.mean() > 0.95
    assert set(cs.split) == {"train", "test"}
    _no_subject_in_two_splits(cs)
    # the stored crop of the frames stage: the face box is the central half of the crop
    assert cs.attrs["margin"] == 0.5 and cs.attrs["detector"].startswith("blazeface")
    centre = cs.faces[cs.present][:, 40:88, 40:88].astype(float).std()
    assert centre > 10


def test_afewva_demo_classes_from_clusters_with_mesh(demo, afewva_clusters):
    cs = loaders.load_clips(
        "afewva",
        demo / "afewva",
        length=4,
        detect=True,
        landmarks=True,
        seed=0,
        va_classes=afewva_clusters["clips"],
        class_order=afewva_clusters["classes"],
    )
    assert cs.classes == afewva_clusters["classes"] and len(cs) == 20
    assert cs.present.mean() > 0.95
    assert cs.attrs["landmark_check"] > 0.9  # the detected face is where the set's landmarks are
    ok = cs.present
    assert np.isfinite(cs.valence).all() and np.abs(cs.valence).max() <= 1
    assert cs.landmarks.shape == (20, 4, 468, 3)
    xy = cs.landmarks[ok][..., :2]
    assert np.isfinite(xy).all() and 0.15 < xy.min() and xy.max() < 0.85  # crop-relative
    # a clip's class is its cluster's: its mean valence/arousal nearest that centre
    means = np.c_[cs.valence.mean(1), cs.arousal.mean(1)]
    centres = np.array(afewva_clusters["centres"])
    nearest = np.linalg.norm(means[:, None] - centres[None], axis=2).argmin(1)
    assert (nearest == cs.labels).mean() >= 0.9


def test_classes_chosen_and_ordered(demo):
    cs = loaders.load_clips(
        "ckplus",
        demo / "ckplus",
        length=2,
        detect=False,
        classes=["happy", "anger"],
        seed=0,
        validation_fraction=0,
    )
    assert cs.classes == ["happy", "anger"] and len(cs) == 8
    with pytest.raises(UserInputError, match=r"class\(es\) \['contempt'\] have no clips"):
        loaders.load_clips("ckplus", demo / "ckplus", length=2, detect=False, classes=["contempt"])


# ---- loaders on real faces


def test_real_videos_and_stills(real_media, tmp_path):
    """CREMA-D-style names on real clips (any container OpenCV reads): the face is found in every
    kept frame of a face video, in none of a cartoon; a CK+-style still is found too."""
    d = tmp_path / "cremad"
    d.mkdir()
    os.symlink(real_media / "single_face.mp4", d / "1001_DFA_HAP_XX.mp4")
    os.symlink(real_media / "no_face.mp4", d / "1002_DFA_NEU_XX.mp4")
    os.symlink(real_media / "single_face.mp4", d / "1003_IEO_HAP_HI.mp4")
    cs = loaders.load_clips(
        "cremad", d, length=4, detect=True, landmarks=True, validation_fraction=0, seed=0
    )
    by_id = dict(zip(cs.clip_ids, range(len(cs)), strict=True))
    assert cs.present[by_id["1001_DFA_HAP_XX"]].all()
    assert not cs.present[by_id["1002_DFA_NEU_XX"]].any()
    lm = cs.landmarks[by_id["1001_DFA_HAP_XX"]]
    assert np.isfinite(lm).all() and 0.1 < lm[..., :2].min() and lm[..., :2].max() < 0.9
    assert np.isnan(cs.landmarks[by_id["1002_DFA_NEU_XX"]]).all()
    ck = tmp_path / "ck" / "happy"
    ck.mkdir(parents=True)
    shutil.copy(real_media / "0-f15-hao-ph.jpg", ck / "S001_001_00000001.jpg")
    shutil.copy(real_media / "15-f13-anc-ph.jpg", ck / "S002_001_00000001.jpg")
    cs = loaders.load_clips("ckplus", ck.parent, length=1, detect=True, validation_fraction=0)
    assert cs.present.all() and cs.faces.shape == (2, 1, 128, 128)


# ---- loaders on broken inputs


def _frame(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((32, 32), 120, np.uint8))


def test_ckplus_broken(tmp_path):
    with pytest.raises(UserInputError, match="ckplus clip set folder not found"):
        loaders.scan("ckplus", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no class folders"):
        loaders.scan("ckplus", tmp_path / "empty")
    _frame(tmp_path / "a/happy/S010_001_00000001.png")
    (tmp_path / "a/sadness").mkdir()
    with pytest.raises(UserInputError, match=r"sadness: class folder 'sadness' holds no frames"):
        loaders.scan("ckplus", tmp_path / "a")
    _frame(tmp_path / "a/sadness/frame1.png")
    with pytest.raises(
        UserInputError, match=r"frame1\.png: not a CK\+ frame name.*S010_004_00000017"
    ):
        loaders.scan("ckplus", tmp_path / "a")
    (tmp_path / "a/sadness/frame1.png").unlink()
    _frame(tmp_path / "a/sadness/S010_001_00000002.png")
    with pytest.raises(UserInputError, match=r"\['S010_001'\] appear in more than one class"):
        loaders.scan("ckplus", tmp_path / "a")
    (tmp_path / "a/sadness/S010_001_00000002.png").write_bytes(b"not a png")
    (tmp_path / "a/sadness/S010_001_00000002.png").rename(
        tmp_path / "a/sadness/S011_001_00000002.png"
    )
    _frame(tmp_path / "a/happy/S012_001_00000001.png")
    with pytest.raises(UserInputError, match=r"S011_001_00000002\.png: not a readable image"):
        loaders.load_clips("ckplus", tmp_path / "a", length=2, detect=False, validation_fraction=0)


def test_cremad_broken(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    with pytest.raises(UserInputError, match="no video clips"):
        loaders.scan("cremad", d)
    (d / "1001-DFA-ANG.mp4").write_bytes(b"x")
    with pytest.raises(UserInputError, match=r"1001-DFA-ANG\.mp4: not a CREMA-D clip name"):
        loaders.scan("cremad", d)
    (d / "1001-DFA-ANG.mp4").rename(d / "1001_DFA_XYZ_XX.mp4")
    with pytest.raises(UserInputError, match=r"XYZ_XX\.mp4: unknown CREMA-D emotion code 'XYZ'"):
        loaders.scan("cremad", d)
    (d / "1001_DFA_XYZ_XX.mp4").unlink()
    (d / "1001_DFA_ANG_XX.mp4").write_text("this is not a video")
    (d / "1002_DFA_ANG_XX.mp4").write_text("this is not a video")
    with pytest.raises(UserInputError, match=r"1001_DFA_ANG_XX\.mp4: not a readable video"):
        loaders.load_clips("cremad", d, length=2, detect=True, validation_fraction=0)


def _afewva_clip(root: Path, clip: str, doc: dict, frames=("00000",)) -> None:
    (root / clip).mkdir(parents=True, exist_ok=True)
    for f in frames:
        _frame(root / clip / f"{f}.png")
    (root / clip / f"{clip}.json").write_text(json.dumps(doc))


def test_afewva_broken(tmp_path):
    good = {"actor": "a", "frames": {"00000": {"valence": 1, "arousal": -2, "landmarks": []}}}
    cases = [
        ({"frames": good["frames"]}, r"001\.json: missing key\(s\) 'actor'"),
        ({"actor": "a", "frames": {}}, r"001\.json: 'frames' is empty"),
        ({"actor": "a", "frames": {"00000": {"valence": 1}}}, r"frame '00000' lacks arousal"),
        (
            {"actor": "a", "frames": {"00000": {"valence": 11, "arousal": 0}}},
            r"valence 11 .*outside -10\.\.10",
        ),
        ({"actor": "a", "frames": {"00000": {"valence": "x", "arousal": 0}}}, "not numbers"),
    ]
    for i, (doc, message) in enumerate(cases):
        root = tmp_path / f"r{i}"
        _afewva_clip(root, "001", doc)
        with pytest.raises(UserInputError, match=message):
            loaders.scan("afewva", root)
    root = tmp_path / "missing"
    _afewva_clip(root, "001", good, frames=())
    with pytest.raises(UserInputError, match=r"frame '00000' of 001\.json has no image 00000\.png"):
        loaders.scan("afewva", root)
    (tmp_path / "nojson/002").mkdir(parents=True)
    with pytest.raises(UserInputError, match=r"002\.json: annotation file not found"):
        loaders.scan("afewva", tmp_path / "nojson")
    (tmp_path / "badjson/bad").mkdir(parents=True)
    (tmp_path / "badjson/bad/bad.json").write_text("{not json")
    with pytest.raises(UserInputError, match=r"bad\.json: not readable JSON"):
        loaders.scan("afewva", tmp_path / "badjson")
    root = tmp_path / "ok"
    _afewva_clip(root, "001", good)
    with pytest.raises(UserInputError, match="need their valence/arousal classes"):
        loaders.load_clips("afewva", root, length=1, detect=False)
    with pytest.raises(UserInputError, match=r"clip\(s\) \['001'\] have no valence/arousal class"):
        loaders.load_clips("afewva", root, length=1, detect=False, va_classes={"009": "x"})


# ---- split by subject, resampling


def test_split_by_subject():
    subjects = np.repeat([f"s{i}" for i in range(10)], 6)
    labels = np.tile(np.arange(3), 20)
    a = loaders.split_by_subject(
        subjects, labels, test_fraction=0.3, validation_fraction=0.2, seed=4
    )
    b = loaders.split_by_subject(
        subjects, labels, test_fraction=0.3, validation_fraction=0.2, seed=4
    )
    assert np.array_equal(a, b)
    per_subject = {s: set(a[subjects == s]) for s in np.unique(subjects)}
    assert all(len(v) == 1 for v in per_subject.values())
    counts = {
        k: sum(v == {k} for v in per_subject.values()) for k in ("train", "validation", "test")
    }
    assert counts == {"test": 3, "validation": 1, "train": 6}
    others = [
        loaders.split_by_subject(
            subjects, labels, test_fraction=0.3, validation_fraction=0.2, seed=s
        )
        for s in range(5, 9)
    ]
    assert any(not np.array_equal(a, o) for o in others)
    # one subject holds the only clips of class 2: it is kept in train
    labels = np.where(subjects == "s3", 2, labels % 2)
    for seed in range(6):
        split = loaders.split_by_subject(
            subjects, labels, test_fraction=0.3, validation_fraction=0.2, seed=seed
        )
        assert set(split[subjects == "s3"]) == {"train"}
    with pytest.raises(UserInputError, match=r"2 subject\(s\) \(a, b\) are too few .*at least 3"):
        loaders.split_by_subject(
            ["a", "b"], [0, 1], test_fraction=0.5, validation_fraction=0.2, seed=0
        )
    two = loaders.split_by_subject(
        ["a", "b"], [0, 1], test_fraction=0.5, validation_fraction=0, seed=0
    )
    assert sorted(two) == ["test", "train"]


def test_resample_indices():
    assert loaders.resample_indices(16, 3).tolist() == [0, 8, 15]  # neutral, middle, peak
    assert loaders.resample_indices(16, 16).tolist() == list(range(16))
    assert loaders.resample_indices(3, 5).tolist() == [0, 1, 2, -1, -1]
    idx = loaders.resample_indices(100, 15)
    assert idx[0] == 0 and idx[-1] == 99 and np.all(np.diff(idx) >= 6)


def test_video_frame_count_from_the_container_checked(demo, monkeypatch):
    """Frames are picked by the container's count; when it overstates the clip, by the decoded
    count (a second pass), so the last frame kept is the real last one."""
    clip = loaders.scan("cremad", demo / "cremad")[0]
    images, idx, n = loaders.read_clip_frames(clip, 3)
    assert n == 5 and idx.tolist() == [0, 2, 4] and all(im is not None for im in images)
    real = loaders.probe_video

    def overstated(path):
        return dataclasses.replace(real(path), n_frames=40)

    monkeypatch.setattr(loaders, "probe_video", overstated)
    again, idx, n = loaders.read_clip_frames(clip, 3)
    assert n == 5 and idx.tolist() == [0, 2, 4]
    assert all(np.array_equal(a, b) for a, b in zip(images, again, strict=True))


# ---- valence/arousal clusters


def test_circumplex_defaults():
    assert va.circumplex_name(0.05, -0.1) == "neutral"
    assert va.circumplex_name(0.6, 0.5) == "happy"
    assert va.circumplex_name(-0.5, 0.6) == "angry"
    assert va.circumplex_name(-0.5, -0.5) == "sad"
    assert va.circumplex_name(0.5, -0.5) == "calm"
    assert va.circumplex_name(0.0, 0.8) == "excited"
    names = va.default_names(np.array([[0.7, 0.6], [0.3, 0.25], [0.0, 0.0]]))
    assert names == ["happy-strong", "happy-mild", "neutral"]


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [0.6, 0.4], [-0.5, 0.5], [-0.5, -0.4], [0.5, -0.5]])
    pts = np.concatenate([c + rng.normal(0, 0.05, (8, 2)) for c in centres])
    ids = [f"{i:03d}" for i in range(len(pts))]
    return ids, [f"p{i % 4}" for i in range(len(pts))], pts


def test_cluster_va_defaults_and_names_file(tmp_path):
    ids, subjects, pts = _blobs()
    r = va.cluster_va(ids, subjects, pts, k=5, seed=0)
    assert r["classes"] == ["neutral", "happy", "angry", "sad", "calm"]
    assert r["counts"] == [8] * 5 and r["names_from"] == "circumplex defaults"
    assert [r["clips"][i] for i in ids[::8]] == r["classes"]
    assert r == va.cluster_va(ids, subjects, pts, k=5, seed=0)
    names = tmp_path / "names.yaml"
    names.write_text(
        "rest: [0, 0]\njoy: [8, 5]\nrage: [-6, 7]\ngloom: [-5, -5]\nserene: [4, -6]\nx: [0, 9]\n"
    )
    r = va.cluster_va(ids, subjects, pts, k=5, seed=0, names_file=names)
    assert r["classes"] == ["rest", "joy", "rage", "gloom", "serene"]
    out = tmp_path / "c.json"
    va.write_va_clusters(out, r)
    assert va.read_va_clusters(out) == (r["classes"], r["clips"])
    va.plot_va_clusters(r, tmp_path / "c.png")
    img = cv2.imread(str(tmp_path / "c.png"))
    assert img.shape[0] > 300 and img.std() > 20


def test_va_names_and_cluster_errors(tmp_path):
    ids, subjects, pts = _blobs()
    f = tmp_path / "n.yaml"
    f.write_text("a: [0, 0]\nb: [5, 5]\n")
    with pytest.raises(UserInputError, match=r"n\.yaml: 2 names for 5 clusters"):
        va.cluster_va(ids, subjects, pts, k=5, seed=0, names_file=f)
    f.write_text("a: [0, 20]\n")
    with pytest.raises(
        UserInputError, match=r"n\.yaml: 'a': expected \[valence, arousal\].*-10\.\.10"
    ):
        va.read_va_names(f)
    f.write_text("- a\n- b\n")
    with pytest.raises(UserInputError, match="expected a mapping"):
        va.read_va_names(f)
    with pytest.raises(UserInputError, match="names file not found"):
        va.read_va_names(tmp_path / "none.yaml")
    with pytest.raises(UserInputError, match="3 clips cannot form 5"):
        va.cluster_va(ids[:3], subjects[:3], pts[:3], k=5, seed=0)


def test_cluster_clip_set_on_the_demo_set(demo, tmp_path):
    r = va.cluster_clip_set(demo / "afewva", tmp_path / "v.json", tmp_path / "v.png", k=5, seed=0)
    # the five generated expressions come back as the five clusters, four clips each
    assert r["counts"] == [4] * 5
    assert r["classes"][0] == "neutral" and len(set(r["classes"])) == 5
    by_class = {}
    for p in r["points"]:
        by_class.setdefault(p["class"], set()).add(int(p["clip"]) % 5)
    assert all(len(v) == 1 for v in by_class.values())  # one generated expression per cluster
    assert (tmp_path / "v.png").stat().st_size > 10_000


# ---- the clip-only study


def _jobs(r) -> dict[str, int]:
    """rule -> job count from a dry run's `--quiet rules` table."""
    rows = [line.split() for line in r.stdout.splitlines()]
    return {w[0]: int(w[1]) for w in rows if len(w) == 2 and w[1].isdigit() and w[0] != "total"}


def test_clip_only_study_dry_run_and_lint(tmp_path):
    d = prepare("clips", tmp_path / "s")
    assert not (d / "config/sessions.tsv").exists()
    r = snakemake(d, "-n", "--quiet", "rules")
    jobs = _jobs(r)
    assert jobs["demo_clips"] == 3 and jobs["load_clips"] == 3 and jobs["va_clusters"] == 1
    assert not {"extract_frames", "demo_video", "trends", "evaluate_study"} & set(jobs)
    lint = snakemake(d, "--lint", check=False)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    (d / "config/config.yaml").write_text('sessions: ""\n')
    r = snakemake(d, "-n", check=False)
    assert r.returncode != 0
    assert (
        "key 'sessions' is empty (a clip-only study) but 'clips.datasets' names no clip set"
        in r.stderr
    )


def test_a_study_with_sessions_and_clips(tmp_path):
    """A normal study with a clip set: both branches' jobs; a missing clip folder is named."""
    clips = {"datasets": {"ck": {"format": "ckplus", "path": "resources/demo/clips/ckplus"}}}
    d = prepare("tiny", tmp_path / "s", {"clips": clips})
    jobs = _jobs(snakemake(d, "-n", "--quiet", "rules"))
    assert jobs["demo_clips"] == 1 and jobs["load_clips"] == 1 and "va_clusters" not in jobs
    assert jobs["extract_frames"] >= 4 and jobs["train_cnn"] == 1
    clips["datasets"]["ck"]["path"] = "data/no-such-set"
    d = prepare("tiny", tmp_path / "s", {"clips": clips})
    r = snakemake(d, "-n", check=False)
    assert r.returncode != 0
    assert "key 'clips.datasets.ck.path': clip set folder 'data/no-such-set' not found" in r.stderr
