"""Every sequence model builds, respects the mask, trains on windows and predicts a timeline."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS

from emotiontrack.tfutil import configure_tf

configure_tf(2, 0)

import keras  # noqa: E402

from emotiontrack.export import export_sequence  # noqa: E402
from emotiontrack.formats import (  # noqa: E402
    Features,
    PseudoLabels,
    read_features,
    write_features,
    write_pseudolabels,
)
from emotiontrack.sequence import (  # noqa: E402
    SEQUENCE_MODELS,
    TrainingSession,
    cnn_log_probabilities,
    frame_inputs,
    predict_session,
)
from emotiontrack.sequence_training import build_sequence_model, train_sequence_model  # noqa: E402


def write_files(tmp_path, name, feats, probs, found, cnn_label) -> TrainingSession:
    """The session's features file and pseudo labels (the CNN's label), as the workflow writes
    them."""
    T = len(found)
    f = Features(feats, probs, found, np.arange(T) / 5, np.arange(T) * 6, EMOTIONS, {"fps": 5.0})
    write_features(tmp_path / f"{name}.h5", f)
    label = np.where(found, cnn_label, -1)
    conf = np.where(found, 0.88, np.nan).astype("f4")
    pl = PseudoLabels(np.arange(T) / 5, label, conf, found, EMOTIONS)
    write_pseudolabels(tmp_path / f"{name}.npy", tmp_path / f"{name}.json", pl)
    return TrainingSession(
        name.split("_")[0], str(tmp_path / f"{name}.h5"), str(tmp_path / f"{name}.npy")
    )


def exported(keras_path):
    """The ONNX export of a saved sequence model, beside it: what the predict jobs run."""
    onnx_path = keras_path.with_suffix(".onnx")
    export_sequence(keras_path, onnx_path)
    return onnx_path


def keras_timeline(keras_path, features_h5, use_probabilities=False):
    """(T, C) probabilities of the Keras model itself over a session's features file."""
    model = keras.models.load_model(keras_path, compile=False)
    data = read_features(features_h5, EMOTIONS)
    found, cnn = data.face_found, data.probabilities
    x = frame_inputs(data.features, found, cnn if use_probabilities else None)[None]
    if len(model.inputs) > 1:
        x = {"frames": x, "cnn_log_probabilities": cnn_log_probabilities(cnn, found)[None]}
    return np.asarray(model(x, training=False)["probabilities"])[0]


@pytest.mark.parametrize("kind", SEQUENCE_MODELS)
def test_masked_frames_do_not_change_the_output(kind):
    model = build_sequence_model(5, 7, kind=kind, units=8, bottleneck=4)
    rng = np.random.default_rng(0)
    x = rng.random((1, 12, 5)).astype("float32")
    logp = np.log(rng.dirichlet(np.ones(7), (1, 12))).astype("float32")

    def run(x, logp):
        if kind == "refine":
            # a non-zero correction, so the mask is exercised through the recurrent layer
            model.get_layer("delta").set_weights([np.ones((16, 7), "f4"), np.zeros(7, "f4")])
            x = {"frames": x, "cnn_log_probabilities": logp}
        return np.asarray(model(x)["probabilities"])

    a = run(x, logp)
    assert a.shape == (1, 12, 7) and np.allclose(a.sum(-1), 1, atol=1e-5)
    padded = np.concatenate([x, np.zeros((1, 6, 5), "float32")], axis=1)
    b = run(padded, np.concatenate([logp, np.zeros((1, 6, 7), "float32")], axis=1))[:, :12]
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
    return write_files(tmp_path, name, feats, probs, found, noisy)


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
        df = predict_session(
            tmp_path / "p0_A.h5", exported(tmp_path / f"{kind}.keras"), tmp_path / "p.csv", EMOTIONS
        )
        assert len(df) == 60 and np.allclose(df[EMOTIONS].sum(axis=1), 1, atol=1e-3)
        # the trained model's ONNX export gives the Keras model's timeline on the face frames
        want = keras_timeline(tmp_path / f"{kind}.keras", tmp_path / "p0_A.h5")
        assert np.abs(df[EMOTIONS].to_numpy()[found] - want[found]).max() < 1e-4, kind


def test_target_smoothing_removes_isolated_pseudo_label_errors(tmp_path):
    from emotiontrack.sequence import _session_arrays

    labels = np.repeat([3, 4, 0, 6], 15)
    s = write_session(tmp_path, "p0_A", labels, np.ones(60, bool))
    ((_, raw, _),) = _session_arrays(s, False, 1)
    ((_, clean, w),) = _session_arrays(s, False, 5)
    assert (raw == labels).mean() == pytest.approx(0.75, abs=0.02)
    assert (clean == labels).mean() >= 0.95 and w.sum() == 60


def test_untrained_refine_model_is_the_per_frame_cnn(tmp_path):
    """The refine model's correction layer starts at zero: before training its output is the
    CNN's probabilities (to float32 round-off), carried over the gap."""
    labels = np.repeat([3, 4, 0, 6], 15)
    found = np.ones(60, bool)
    found[30:33] = False
    write_session(tmp_path, "p0_A", labels, found)
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(7, 0.5), 60).astype("f4")  # varied, some near 0
    probs[~found] = np.nan
    f = read_features(tmp_path / "p0_A.h5")
    write_features(tmp_path / "p0_A.h5", replace(f, probabilities=probs))
    build_sequence_model(17, 7, kind="refine", units=8).save(tmp_path / "refine.keras")
    df = predict_session(
        tmp_path / "p0_A.h5", exported(tmp_path / "refine.keras"), tmp_path / "p.csv", EMOTIONS
    )
    out = pd.read_csv(tmp_path / "p.csv")[EMOTIONS].to_numpy()
    expected = probs.copy()
    expected[30:33] = probs[29]  # no face: the last face frame's output is carried
    assert np.abs(out - expected).max() < 1e-5  # the CSV keeps 5 decimals
    raw = np.asarray(df[EMOTIONS], np.float64)
    assert np.abs(raw[found] - probs[found]).max() < 1e-6
    assert (df["label"] == df["cnn_label"])[found].all()


def noisy_session(tmp_path, name, seed, T=60):
    """A session of random emotion segments whose CNN is confidently wrong on a random quarter of
    its frames; its features do carry the emotion (as a real CNN's penultimate layer does)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.choice(7, T // 10), 10)
    found = np.ones(T, bool)
    found[rng.integers(5, T - 8) :][:3] = False
    centers = np.random.default_rng(99).normal(size=(7, 16))
    feats = np.abs(centers[labels] + 0.3 * rng.normal(size=(T, 16))).astype("f4")
    wrong = rng.random(T) < 0.25
    cnn = np.where(wrong, (labels + rng.integers(1, 7, T)) % 7, labels)
    probs = np.full((T, 7), 0.02, "f4")
    probs[np.arange(T), cnn] = 0.88
    probs[~found] = np.nan
    session = write_files(tmp_path, name, feats, probs, found, cnn)
    return session, np.array(EMOTIONS)[labels], found


def test_trained_refine_model_corrects_a_noisy_cnn(tmp_path):
    """The CNN is confidently wrong on a quarter of the frames; trained on temporally cleaned
    pseudo labels of other sessions, the refine model's decisions on an unseen session beat the
    CNN's."""
    sessions = [noisy_session(tmp_path, f"p{i}_A", i)[0] for i in range(6)]
    _, truth, found = noisy_session(tmp_path, "q9_A", 9, T=100)
    train_sequence_model(
        sessions,
        EMOTIONS,
        tmp_path / "refine.keras",
        tmp_path / "refine.csv",
        kind="refine",
        units=8,
        window=30,
        stride=5,
        epochs=25,
        batch_size=4,
        patience=25,
        learning_rate=0.01,
        target_window=5,
        delta_penalty=0.01,
    )
    df = predict_session(
        tmp_path / "q9_A.h5", exported(tmp_path / "refine.keras"), tmp_path / "q.csv", EMOTIONS
    )
    want = keras_timeline(tmp_path / "refine.keras", tmp_path / "q9_A.h5")
    assert np.abs(df[EMOTIONS].to_numpy()[found] - want[found]).max() < 1e-4  # ONNX = Keras
    cnn = (df["cnn_label"][found] == truth[found]).mean()
    refined = (df["label"][found] == truth[found]).mean()
    assert cnn < 0.85
    assert refined >= cnn + 0.1, (cnn, refined)


def test_class_weights_balance_the_frames():
    from emotiontrack.sequence import class_weights

    y = np.array([0] * 80 + [1] * 20)
    w = np.ones(100)
    cw = class_weights(y, w, 3)
    assert cw[2] == 0 and cw[1] == pytest.approx(4 * cw[0])
    assert (cw[y] * w).mean() == pytest.approx(1.0)
