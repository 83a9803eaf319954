"""Every sequence model builds, respects the mask, trains on windows and predicts a timeline."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS

from emotiontrack.tfutil import configure_tf

configure_tf(2, 0)

from emotiontrack.export import export_sequence  # noqa: E402
from emotiontrack.sequence import (  # noqa: E402
    SEQUENCE_MODELS,
    TrainingSession,
    build_sequence_model,
    predict_session,
    train_sequence_model,
)


@pytest.mark.parametrize("kind", SEQUENCE_MODELS)
def test_masked_frames_do_not_change_the_output(kind):
    model = build_sequence_model(5, 7, kind=kind, units=8, bottleneck=4)
    x = np.random.default_rng(0).random((1, 12, 5)).astype("float32")
    a = np.asarray(model(x)["probabilities"])
    assert a.shape == (1, 12, 7) and np.allclose(a.sum(-1), 1, atol=1e-5)
    padded = np.concatenate([x, np.zeros((1, 6, 5), "float32")], axis=1)
    b = np.asarray(model(padded)["probabilities"])[:, :12]
    if kind == "lstm":  # causal: the past frames are untouched by padding after them
        assert np.allclose(a, b, atol=1e-5)
    else:  # look-ahead models must ignore the masked padding too
        assert np.allclose(a, b, atol=1e-4), kind
    if kind == "autoencoder":
        assert model(x)["reconstruction"].shape == (1, 12, 5)


def write_session(tmp_path, name, labels, found):
    T = len(labels)
    rng = np.random.default_rng(len(name))
    centers = rng.normal(size=(7, 16))
    feats = np.abs(centers[labels] + 0.3 * rng.normal(size=(T, 16))).astype("f4")
    probs = np.full((T, 7), 0.02, "f4")
    noisy = labels.copy()
    noisy[::4] = (labels[::4] + 1) % 7  # the CNN is wrong on every 4th frame
    probs[np.arange(T), noisy] = 0.88
    probs[~found] = np.nan
    with h5py.File(tmp_path / f"{name}.h5", "w") as h5:
        h5["features"], h5["probabilities"], h5["face_found"] = feats, probs, found
        h5["timestamps"], h5["frame_index"] = np.arange(T) / 5, np.arange(T) * 6
        h5.attrs["emotions"] = json.dumps(EMOTIONS)
    rec = np.zeros(
        T, dtype=[("time_s", "f8"), ("label", "i8"), ("confidence", "f4"), ("face_found", "?")]
    )
    rec["label"] = np.where(found, noisy, -1)
    rec["face_found"] = found
    np.save(tmp_path / f"{name}.npy", rec)
    return TrainingSession(
        name.split("_")[0], str(tmp_path / f"{name}.h5"), str(tmp_path / f"{name}.npy")
    )


def test_train_and_predict_each_kind(tmp_path):
    labels = np.repeat([3, 4, 0, 6], 15)
    found = np.ones(60, bool)
    found[30:33] = False
    sessions = [write_session(tmp_path, f"p{i}_A", labels, found) for i in range(3)]
    for kind in SEQUENCE_MODELS:
        info = train_sequence_model(
            sessions,
            EMOTIONS,
            tmp_path / f"{kind}.keras",
            tmp_path / f"{kind}.csv",
            kind=kind,
            units=8,
            bottleneck=4,
            window=20,
            stride=10,
            epochs=2,
            target_window=5,
        )
        assert info["validation_participants"] == ["p2"]
        hist = pd.read_csv(tmp_path / f"{kind}.csv")
        assert {"loss", "accuracy", "val_loss"} <= set(hist.columns), kind
        export_sequence(tmp_path / f"{kind}.keras", tmp_path / f"{kind}.onnx")
        df = predict_session(
            tmp_path / "p0_A.h5", tmp_path / f"{kind}.onnx", tmp_path / "p.csv", EMOTIONS
        )
        assert len(df) == 60 and np.allclose(df[EMOTIONS].sum(axis=1), 1, atol=1e-3)


def test_target_smoothing_removes_isolated_pseudo_label_errors(tmp_path):
    from emotiontrack.sequence import _session_arrays

    labels = np.repeat([3, 4, 0, 6], 15)
    s = write_session(tmp_path, "p0_A", labels, np.ones(60, bool))
    ((_, raw, _),) = _session_arrays(s, False, 1)
    ((_, clean, w),) = _session_arrays(s, False, 5)
    assert (raw == labels).mean() == pytest.approx(0.75, abs=0.02)
    assert (clean == labels).mean() >= 0.95 and w.sum() == 60
