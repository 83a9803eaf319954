"""Clip models (issue #12): each model builds and trains on a tiny clip set, masks what is not
there, and is scored per clip beside the majority and frame-CNN baselines; CCC and the
valence/arousal regression; the comparison table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emotiontrack import UserInputError
from emotiontrack.tfutil import configure_tf

configure_tf(2, 0)

import keras  # noqa: E402

from emotiontrack.clips.evaluate import (  # noqa: E402
    baseline_predictions,
    ccc,
    class_to_emotion,
    compare_methods,
    evaluate_valence_arousal,
    frame_cnn_probabilities,
    read_clip_predictions,
    score_predictions,
    valence_arousal_metrics,
)
from emotiontrack.clips.models import (  # noqa: E402
    CLIP_MODELS,
    build_clip_model,
    clip_mean_va,
    model_inputs,
    normalise_landmarks,
)
from emotiontrack.clips.train import train_clip_model  # noqa: E402
from emotiontrack.formats import ClipSet, write_clips  # noqa: E402

REPO_TEMPLATE = "report/clips_comparison.md.jinja"
CLASSES = ["anger", "happy", "sadness"]


def tiny_clips(n_subjects=6, per_class=2, T=4, S=24, seed=0, landmarks=True) -> ClipSet:
    """A learnable clip set: each class shows as a bright band at its own height, moving one row
    per frame, over noise; subjects 0-3 train, 4 validation, 5 test. Landmarks: a random mesh
    shifted per class. Valence/arousal per clip: a class value plus noise; the last frame of
    every clip is padding (not present)."""
    rng = np.random.default_rng(seed)
    labels, subjects = [], []
    for s in range(n_subjects):
        for c in range(len(CLASSES)):
            labels += [c] * per_class
            subjects += [f"S{s:03d}"] * per_class
    labels = np.array(labels)
    N = len(labels)
    faces = rng.integers(0, 60, (N, T, S, S)).astype(np.uint8)
    band = S // (len(CLASSES) + 1)
    for i, c in enumerate(labels):
        for t in range(T):
            faces[i, t, band * c + t : band * c + t + band, :] += 150
    present = np.ones((N, T), bool)
    present[:, -1] = False
    faces[~present] = 0
    split = np.array(
        [
            "test"
            if s == f"S{n_subjects - 1:03d}"
            else "validation"
            if s == f"S{n_subjects - 2:03d}"
            else "train"
            for s in subjects
        ]
    )
    va_class = np.array([[-0.6, 0.5], [0.7, 0.4], [-0.5, -0.4]])
    va = va_class[labels][:, None, :] + 0.05 * rng.normal(size=(N, T, 2))
    va[~present] = np.nan
    mesh = None
    if landmarks:
        base = rng.random((468, 3)).astype(np.float32)
        mesh = np.broadcast_to(base, (N, T, 468, 3)).copy()
        mesh[..., 1] += 0.1 * labels[:, None, None] * (base[:, 0] > 0.5)
        mesh += 0.01 * rng.normal(size=mesh.shape).astype(np.float32)
        mesh[~present] = np.nan
    return ClipSet(
        faces=faces,
        present=present,
        labels=labels,
        classes=list(CLASSES),
        subjects=np.array(subjects),
        clip_ids=np.array([f"clip{i:03d}" for i in range(N)]),
        split=split,
        valence=va[..., 0].astype(np.float32),
        arousal=va[..., 1].astype(np.float32),
        landmarks=mesh,
        attrs={"format": "test", "length": T},
    )


@pytest.fixture(scope="module")
def clips_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "clips.h5"
    write_clips(path, tiny_clips())
    return path


def test_each_model_trains_and_is_scored_per_clip(clips_h5, tmp_path):
    for name in CLIP_MODELS:
        model, hist = tmp_path / f"{name}.keras", tmp_path / f"{name}.csv"
        files = [tmp_path / f"{name}.{ext}" for ext in ("tsv", "json", "png", "per_class.tsv")]
        info = train_clip_model(
            clips_h5, name, model, hist, files[0], input_size=16, units=8, epochs=2, batch_size=8
        )
        assert (info["train_clips"], info["validation_clips"]) == (24, 6), name
        h = pd.read_csv(hist)
        assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(h.columns), name
        assert len(h) == 2 and np.isfinite(h["loss"]).all()
        m = score_predictions(files[0], name, *files[1:])
        df, classes, notes = read_clip_predictions(files[0])
        assert notes == {"model": name} and m["model"] == name
        assert classes == CLASSES and len(df) == 6 == m["n_test_clips"]
        assert set(df["subject"]) == {"S005"} and m["test_subjects"] == ["S005"]
        probs = df[[f"p_{c}" for c in CLASSES]].to_numpy()
        assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)
        assert list(df["predicted"]) == [CLASSES[j] for j in probs.argmax(axis=1)]
        assert m["accuracy"] == pytest.approx(np.mean(df["predicted"] == df["true"]))
        if name == "cnn-ae-lstm":  # the autoencoder's reconstruction was trained too
            assert {"reconstruction_loss", "val_reconstruction_loss"} <= set(h.columns)
            rec = keras.models.load_model(model, compile=False)(
                model_inputs(tiny_clips(), name, 16)
            )["reconstruction"]
            assert rec.shape == (36, 4, 144) and 0 <= np.min(rec) and np.max(rec) <= 1
        per_class = pd.read_csv(files[3], sep="\t")
        assert list(per_class["class"]) == CLASSES and per_class["support"].sum() == 6


@pytest.mark.parametrize("name", CLIP_MODELS)
def test_frames_not_present_do_not_change_the_output(name):
    cs = tiny_clips(n_subjects=1, per_class=1)
    model = build_clip_model(name, 4, 3, input_size=16, units=8)
    x = model_inputs(cs, name, 16)
    a = np.asarray(model(x)["probabilities"])
    rng = np.random.default_rng(3)
    noisy = {"frames": x["frames"].copy(), "present": x["present"]}
    gone = x["present"] == 0
    noisy["frames"][gone] = rng.random(noisy["frames"][gone].shape) * 255
    b = np.asarray(model(noisy)["probabilities"])
    assert np.allclose(a, b, atol=1e-5)
    # ... while a present frame does
    changed = {"frames": noisy["frames"].copy(), "present": x["present"]}
    changed["frames"][:, 0] = rng.random(changed["frames"][:, 0].shape) * 255
    assert not np.allclose(a, np.asarray(model(changed)["probabilities"]), atol=1e-5)


def test_cnn3d_keeps_short_clips_time_axis():
    model = build_clip_model("cnn3d", 3, 5, input_size=16, units=8)
    out = model({"frames": np.zeros((2, 3, 16, 16, 1), "f4"), "present": np.ones((2, 3), "f4")})
    assert out["probabilities"].shape == (2, 5)


def test_landmark_model_without_landmarks_is_a_config_error(tmp_path):
    path = tmp_path / "c.h5"
    write_clips(path, tiny_clips(landmarks=False))
    with pytest.raises(UserInputError, match="landmarks: true"):
        train_clip_model(path, "landmark-cnn-bilstm", tmp_path / "m.keras", tmp_path / "h.csv")


def test_landmarks_normalised_for_position_and_size():
    rng = np.random.default_rng(0)
    mesh = rng.random((1, 3, 468, 3)).astype("f4")
    moved = mesh * 2.5 + 0.3  # the same face, bigger and elsewhere in the crop
    present = np.array([[True, True, False]])
    a, b = normalise_landmarks(mesh, present), normalise_landmarks(moved, present)
    assert a.shape == (1, 3, 1404) and np.allclose(a, b, atol=1e-5)
    assert np.all(a[0, 2] == 0) and np.sqrt(np.mean(a[0, 0].reshape(468, 3) ** 2) * 3) == (
        pytest.approx(1, rel=1e-4)
    )


def test_ccc_known_values():
    x = np.array([1.0, 2.0, 3.0])
    assert ccc(x, x) == pytest.approx(1)
    assert ccc(x - 2, 2 - x) == pytest.approx(-1)
    # var 2/3 each, covariance 2/3, means 1 apart: 2 (2/3) / (4/3 + 1) = 4/7
    assert ccc(x, x + 1) == pytest.approx(4 / 7)
    assert ccc(x, np.full(3, 2.0)) == pytest.approx(0)
    m = valence_arousal_metrics(np.c_[x, x], np.c_[x + 1, x])
    assert m["valence"] == {"rmse": pytest.approx(1), "ccc": pytest.approx(4 / 7)}
    assert m["arousal"]["rmse"] == 0 and m["arousal"]["ccc"] == pytest.approx(1)


def test_valence_arousal_regression(clips_h5, tmp_path):
    truth = clip_mean_va(tiny_clips())
    assert truth.shape == (36, 2) and np.isfinite(truth).all()
    info = train_clip_model(
        clips_h5,
        "cnn-lstm",
        tmp_path / "va.keras",
        tmp_path / "va_h.csv",
        tmp_path / "va.tsv",
        input_size=16,
        units=8,
        epochs=2,
        batch_size=8,
        regression=True,
    )
    assert info["train_clips"] == 24
    r = evaluate_valence_arousal(clips_h5, tmp_path / "va.tsv", tmp_path / "va.json")
    pred = pd.read_csv(tmp_path / "va.tsv", sep="\t", comment="#")
    assert np.allclose(pred[["valence", "arousal"]], truth[tiny_clips().split == "test"], atol=1e-4)
    assert pred[["predicted_valence", "predicted_arousal"]].abs().max().max() <= 1
    assert r["n_test_clips"] == 6 and json.loads((tmp_path / "va.json").read_text()) == r
    for k in ("valence", "arousal"):
        assert 0 <= r[k]["rmse"] < 2 and -1 <= r[k]["ccc"] <= 1
        assert r["baseline_train_mean"][k]["ccc"] == pytest.approx(0, abs=1e-6)


def test_majority_baseline(clips_h5, tmp_path):
    cs = tiny_clips()
    keep = (cs.split != "train") | (cs.labels == 2) | (np.arange(len(cs)) % 2 == 0)
    lopsided = cs.subset("train")  # more sadness than anything else in train
    path = tmp_path / "c.h5"
    write_clips(path, cs.select(keep))
    assert lopsided.labels.size == 24
    files = [tmp_path / f"majority.{e}" for e in ("tsv", "json", "png", "pc.tsv")]
    baseline_predictions(path, "majority", files[0])
    m = score_predictions(files[0], "majority", *files[1:])
    assert m["predicts"] == "sadness" and m["accuracy"] == pytest.approx(1 / 3)
    # F1 of sadness = 2 * (1/3 * 1) / (1/3 + 1) = 0.5, the others 0: macro-F1 1/6
    assert m["macro_f1"] == pytest.approx(0.5 / 3)


def test_frame_cnn_baseline_maps_emotions_onto_clip_classes():
    cs = tiny_clips(n_subjects=1, per_class=1)
    emotions = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert class_to_emotion(CLASSES, emotions) == {0: 0, 1: 3, 2: 4}
    assert class_to_emotion(["ANG", "HAP", "NEU", "calm"], emotions) == {0: 0, 1: 3, 2: 6}

    def run(crops):  # brighter crop -> more "happy"; constant "disgust" mass
        b = crops.reshape(len(crops), -1).mean(axis=1, keepdims=True) / 255
        p = np.full((len(crops), 7), 0.05)
        p[:, 3:4] = b
        p[:, 1] = 0.3
        return np.zeros((len(crops), 4)), p / p.sum(axis=1, keepdims=True)

    probs, has, names = frame_cnn_probabilities(cs, (run, 24, 7, 4, "fake"), emotions)
    assert names == {"anger": "angry", "happy": "happy", "sadness": "sad"} and has.all()
    for i in range(len(cs)):
        _, p = run(cs.faces[i][cs.present[i]])
        want = p.mean(axis=0)[[0, 3, 4]]
        assert np.allclose(probs[i], want / want.sum())


def test_frame_cnn_skipped_without_shared_classes(tmp_path):
    cs = tiny_clips(n_subjects=3, per_class=1, landmarks=False)
    cs.classes = ["calm", "excited", "tense"]
    path = tmp_path / "c.h5"
    write_clips(path, cs)
    files = [tmp_path / f"f.{e}" for e in ("tsv", "json", "png", "pc.tsv")]
    baseline_predictions(path, "frame-cnn", files[0], cnn="unused.onnx", emotions=["happy", "sad"])
    m = score_predictions(files[0], "frame-cnn", *files[1:])
    assert "name 0 of the clip classes" in m["skipped"] and m["macro_f1"] is None
    assert json.loads(files[1].read_text())["skipped"] == m["skipped"]


def test_comparison_table(tmp_path):
    rows = {"cnn-lstm": 0.6, "cnn3d": 0.1, "majority": 0.2}
    paths = []
    for method, f1 in rows.items():
        p = tmp_path / f"{method}.json"
        p.write_text(
            json.dumps({"method": method, "n_test_clips": 9, "accuracy": f1 + 0.1, "macro_f1": f1})
        )
        paths.append(p)
    skipped = tmp_path / "frame-cnn.json"
    skipped.write_text(json.dumps({"method": "frame-cnn", "skipped": "no shared classes"}))
    va = tmp_path / "va.json"
    va.write_text(
        json.dumps(
            {
                "n_test_clips": 9,
                "valence": {"rmse": 0.2, "ccc": 0.71},
                "arousal": {"rmse": 0.3, "ccc": 0.5},
                "baseline_train_mean": {
                    "valence": {"rmse": 0.4, "ccc": 0},
                    "arousal": {"rmse": 0.5, "ccc": 0},
                },
            }
        )
    )
    df = compare_methods(
        [*paths, skipped],
        tmp_path / "c.tsv",
        tmp_path / "c.md",
        REPO_TEMPLATE,
        dataset="demo",
        valence_arousal_json=va,
    )
    assert list(df["beats_majority"]) == ["yes", "no", "", ""]
    md = (tmp_path / "c.md").read_text()
    assert "| cnn-lstm | model | 9 | 0.700 | 0.600 | yes |" in md
    assert "skipped: no shared classes" in md and "| valence | 0.200 | 0.710 |" in md
    assert pd.read_csv(tmp_path / "c.tsv", sep="\t")["method"].tolist() == [*rows, "frame-cnn"]


def test_clip_study_end_to_end(clip_study):
    """The tiny clip-only study: every configured model and both baselines scored on each set's
    test clips, compared in one table; valence/arousal scored on the afewva set."""
    from studies import config

    from emotiontrack.clips.models import BASELINES
    from emotiontrack.formats import read_clips

    for name, ds in config("clips")["clips"]["datasets"].items():
        root = clip_study / "results/clips" / name
        test = read_clips(root / "clips.h5", split="test")
        methods = [*ds["models"], *BASELINES]
        table = pd.read_csv(root / "comparison.tsv", sep="\t", keep_default_na=False)
        assert table["method"].tolist() == methods, name
        md = (root / "comparison.md").read_text()
        for m in methods:
            ev = json.loads((root / "eval" / f"{m}.json").read_text())
            row = table.set_index("method").loc[m]
            assert f"| {m} |" in md
            if m == "frame-cnn" and ev.get("skipped"):
                assert row["note"] == ev["skipped"]
                continue
            df, classes, notes = read_clip_predictions(root / "predictions" / f"{m}.tsv")
            assert classes == test.classes and list(df["clip_id"]) == list(test.clip_ids), m
            assert set(df["subject"]) == set(test.subjects) == set(ev["test_subjects"])
            assert ev["n_test_clips"] == len(test) and ev["accuracy"] == pytest.approx(
                np.mean(df["predicted"] == df["true"])
            )
            assert float(row["macro_f1"]) == pytest.approx(ev["macro_f1"], abs=1e-4)
            assert (root / "eval" / f"{m}_confusion.png").stat().st_size > 5000
            per_class = pd.read_csv(root / "eval" / f"{m}_per_class.tsv", sep="\t")
            assert list(per_class["class"]) == classes
            if m in ds["models"]:
                assert notes == {"model": m}
                hist = pd.read_csv(root / "models" / f"{m}_history.csv")
                assert len(hist) == ds["epochs"] and "val_loss" in hist  # validation split used
                assert (clip_study / f"benchmarks/train_clip_model/{name}/{m}.tsv").exists()
                assert row["beats_majority"] in ("yes", "no")
        if ds["format"] == "ckplus":  # its classes are FER emotions: the CNN's map onto them
            frame = json.loads((root / "eval/frame-cnn.json").read_text())
            assert len(frame["class_to_emotion"]) >= 2 and frame["macro_f1"] is not None
        if ds["format"] == "afewva":
            va = json.loads((root / "eval/valence_arousal.json").read_text())
            assert va["model"] == ds["va_model"] and va["n_test_clips"] == len(test)
            for k in ("valence", "arousal"):
                assert 0 <= va[k]["rmse"] < 2 and -1 <= va[k]["ccc"] <= 1
            assert "## Valence and arousal" in md
        else:
            assert not (root / "eval/valence_arousal.json").exists()


def test_landmark_model_needs_landmarks_in_the_config(tmp_path):
    from studies import prepare, snakemake

    changes = {"ckplus": {"format": "ckplus", "path": "resources/demo/clips/ckplus"}}
    changes["ckplus"]["models"] = ["cnn3d", "landmark-cnn-bilstm"]
    d = prepare("clips", tmp_path / "s", {"clips": {"datasets": changes}})
    r = snakemake(d, "-n", check=False)
    assert r.returncode != 0
    assert (
        "key 'clips.datasets.ckplus': model 'landmark-cnn-bilstm' reads the face mesh per frame: "
        "set landmarks: true for this dataset" in r.stderr
    ), r.stderr[-2000:]
