"""Each intermediate file reads back what was written, and a malformed one trips the reader."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS

from emotiontrack.formats import (
    Features,
    Frames,
    FramesWriter,
    Predictions,
    PseudoLabels,
    open_faces,
    read_feature_copies,
    read_features,
    read_frames,
    read_predictions,
    read_pseudolabels,
    read_trends,
    write_features,
    write_frames,
    write_predictions,
    write_pseudolabels,
    write_trends,
)

T = 12
RNG = np.random.default_rng(3)


def frames(copies: int = 0) -> Frames:
    found = np.ones(T, bool)
    found[[2, 7]] = False
    shape = (copies, T, 16, 16) if copies else (T, 16, 16)
    faces = RNG.integers(0, 255, shape, dtype=np.uint8)
    faces[..., ~found, :, :] = 0
    boxes = np.where(found[:, None], [5, 6, 40, 40], -1).astype(np.int32)
    return Frames(
        timestamps=np.arange(T) / 5.0,
        face_found=found,
        frame_index=np.arange(T) * 6,
        boxes=boxes,
        faces=faces,
        attrs={"fps": 5.0, "source": "v.mp4", "margin": 0.5, "copies": copies},
    )


def features(seed: int = 0) -> Features:
    rng = np.random.default_rng(seed)
    found = np.ones(T, bool)
    found[[2, 7]] = False
    probs = rng.dirichlet(np.ones(len(EMOTIONS)), T).astype(np.float32)
    probs[~found] = np.nan
    feats = np.where(found[:, None], rng.random((T, 8)), 0).astype(np.float32)
    return Features(
        features=feats,
        probabilities=probs,
        face_found=found,
        timestamps=np.arange(T) / 5.0,
        frame_index=np.arange(T) * 6,
        emotions=list(EMOTIONS),
        attrs={"fps": 5.0, "model_sha256": "ab" * 32, "crop_geometry": "null"},
    )


def assert_same(a, b) -> None:
    for k, v in vars(a).items():
        w = getattr(b, k)
        if isinstance(v, np.ndarray):
            assert v.dtype == w.dtype or v.dtype.kind == w.dtype.kind == "O", k
            assert np.array_equal(v, w, equal_nan=v.dtype.kind == "f"), k
        elif k == "attrs":
            assert {x: y for x, y in w.items() if x in v} == v, k
        else:
            assert v == w, k


@pytest.mark.parametrize("copies", [0, 3])
def test_frames_round_trip(tmp_path: Path, copies: int) -> None:
    fr = frames(copies)
    write_frames(tmp_path / "f.h5", fr)
    back = read_frames(tmp_path / "f.h5")
    assert_same(fr, back)
    assert back.fps == 5.0 and back.copies == copies
    assert read_frames(tmp_path / "f.h5", faces=False).faces is None
    with open_faces(tmp_path / "f.h5") as faces:
        assert np.array_equal(faces[..., 3, :, :], fr.faces[..., 3, :, :])


def test_frames_writer_streams_the_same_file(tmp_path: Path) -> None:
    fr = frames()
    kp = RNG.random((T, 6, 2)).astype(np.float32)
    with FramesWriter(tmp_path / "s.h5", crop_size=16, keypoints=6, block=5) as w:
        for i in range(T):
            w.add(
                faces=fr.faces[i],
                timestamps=fr.timestamps[i],
                frame_index=fr.frame_index[i],
                boxes=fr.boxes[i],
                face_found=fr.face_found[i],
                keypoints=kp[i],
            )
        w.close(fr.attrs, {"keypoints": {"keypoint_names": list("abcdef")}})
    back = read_frames(tmp_path / "s.h5")
    assert_same(replace(fr, keypoints=kp), back)
    assert not (tmp_path / "s.h5.part").exists()


def test_frames_writer_leaves_nothing_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), FramesWriter(tmp_path / "s.h5", crop_size=4, keypoints=6):
        raise RuntimeError("video broke")
    assert list(tmp_path.iterdir()) == []


def test_malformed_frames_file_trips_the_reader(tmp_path: Path) -> None:
    write_frames(tmp_path / "f.h5", frames(copies=2))
    with h5py.File(tmp_path / "f.h5", "a") as h5:
        h5.attrs["copies"] = 0  # the copies axis no longer announced
    with pytest.raises(AssertionError, match="copies=0"):
        read_frames(tmp_path / "f.h5")
    with h5py.File(tmp_path / "f.h5", "a") as h5:
        del h5.attrs["fps"]
    with pytest.raises(AssertionError, match="not a frames file"):
        read_frames(tmp_path / "f.h5")


def test_features_round_trip_plain_and_copies(tmp_path: Path) -> None:
    f = features()
    write_features(tmp_path / "f.h5", f)
    back = read_features(tmp_path / "f.h5", EMOTIONS)
    assert_same(f, back)
    assert back.fps == 5.0 and back.attrs["copies"] == 0
    with h5py.File(tmp_path / "f.h5") as h5:
        assert h5["features"].shape == (T, 8)  # a plain session file has no copies axis

    copies = [replace(features(k), timestamps=f.timestamps) for k in range(3)]
    write_features(tmp_path / "a.h5", copies)
    back = read_feature_copies(tmp_path / "a.h5")
    assert len(back) == 3
    for a, b in zip(copies, back, strict=True):
        assert np.array_equal(a.features, b.features)
        assert np.array_equal(a.probabilities, b.probabilities, equal_nan=True)
    with h5py.File(tmp_path / "a.h5") as h5:
        assert h5["features"].shape == (3, T, 8) and h5.attrs["copies"] == 3
    assert len(read_feature_copies(tmp_path / "f.h5")) == 1


def test_malformed_features_file_trips_the_reader(tmp_path: Path) -> None:
    write_features(tmp_path / "a.h5", [features(0), features(1)])
    with pytest.raises(AssertionError, match="augmented copies"):
        read_features(tmp_path / "a.h5")  # a file of copies where one session is expected
    write_features(tmp_path / "f.h5", features())
    with pytest.raises(AssertionError, match="made for emotions"):
        read_features(tmp_path / "f.h5", EMOTIONS[:5])
    with h5py.File(tmp_path / "f.h5", "a") as h5:
        h5.attrs["emotions"] = json.dumps(EMOTIONS[:5])  # 7 probability columns, 5 names
    with pytest.raises(AssertionError, match="probabilities"):
        read_features(tmp_path / "f.h5")


def test_predictions_round_trip(tmp_path: Path) -> None:
    cnn = features()
    probs = np.roll(cnn.probabilities, 1, axis=0)  # a timeline other than the CNN's
    p = Predictions.from_probabilities(cnn, probs)
    assert p.label[3] == "" and p.cnn_label[2] == "" and np.isnan(p.cnn_confidence[2])
    assert p.cnn_label[0] == EMOTIONS[int(np.nanargmax(cnn.probabilities[0]))]
    df = write_predictions(tmp_path / "p.csv", p)
    assert list(df.columns) == [
        "time_s",
        "frame_index",
        "face_found",
        *EMOTIONS,
        "label",
        "cnn_label",
        "cnn_confidence",
    ]
    back = read_predictions(tmp_path / "p.csv", EMOTIONS)
    assert np.abs(np.nan_to_num(back.probabilities - probs)).max() <= 5e-6  # 5 decimals
    assert np.array_equal(np.isnan(back.probabilities), np.isnan(probs))
    assert (back.label == p.label).all() and (back.cnn_label == p.cnn_label).all()
    assert np.array_equal(back.time_s, p.time_s) and np.array_equal(back.face_found, p.face_found)
    assert back.emotions == EMOTIONS
    # what was read writes the same file again
    write_predictions(tmp_path / "q.csv", back)
    assert (tmp_path / "q.csv").read_text() == (tmp_path / "p.csv").read_text()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda df: df.drop(columns="fear"), "emotion columns"),
        (lambda df: df.assign(label=df["label"].replace("happy", "joy")), "joy"),
        (lambda df: df.assign(time_s=df["time_s"][::-1].to_numpy()), "time_s"),
        (lambda df: df.drop(columns="cnn_confidence"), "columns"),
    ],
)
def test_malformed_predictions_trip_the_reader(tmp_path: Path, edit, message: str) -> None:
    cnn = features()
    p = Predictions.from_probabilities(cnn, cnn.probabilities)
    p.label[0] = p.cnn_label[0] = "happy"
    edit(p.table()).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(AssertionError, match=message):
        read_predictions(tmp_path / "p.csv", EMOTIONS)


def test_pseudolabels_round_trip(tmp_path: Path) -> None:
    found = np.array([1, 1, 0, 1], bool)
    pl = PseudoLabels(
        time_s=np.arange(4) / 5.0,
        label=np.array([3, 4, -1, 3]),
        confidence=np.array([0.9, 0.6, np.nan, 0.7], np.float32),
        face_found=found,
        emotions=list(EMOTIONS),
        model_sha256="cd" * 32,
    )
    summary = write_pseudolabels(tmp_path / "p.npy", tmp_path / "p.json", pl)
    assert summary["counts"]["happy"] == 2 and summary["n_faces"] == 3
    back = read_pseudolabels(tmp_path / "p.npy")
    assert_same(pl, back)
    js = json.loads((tmp_path / "p.json").read_text())
    assert js["frames"][2] == {
        "time_s": 0.4,
        "label": None,
        "confidence": None,
        "face_found": False,
    }
    np.save(tmp_path / "bad.npy", np.zeros(4, [("label", "i8")]))
    with pytest.raises(AssertionError, match="dtype"):
        read_pseudolabels(tmp_path / "bad.npy")


def test_trends_round_trip(tmp_path: Path) -> None:
    emotions = ["happy", "sad"]
    table = pd.DataFrame(
        {
            "time_s": [0.0, 0.2, 0.4],
            "face_found": [1, 0, 1],
            "happy": [0.7, np.nan, 0.25],
            "sad": [0.3, np.nan, 0.75],
            "dominant": ["happy", "", "sad"],
        }
    )
    write_trends(tmp_path / "t.csv", table, emotions)
    back = read_trends(tmp_path / "t.csv", emotions)
    pd.testing.assert_frame_equal(back, table)
    with pytest.raises(AssertionError, match="trend columns"):
        write_trends(tmp_path / "t.csv", table.drop(columns="dominant"), emotions)
    with pytest.raises(AssertionError, match="trend columns"):
        read_trends(tmp_path / "t.csv", ["happy", "sad", "fear"])
