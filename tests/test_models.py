"""CNN, features, augmentation, pseudo labels and the sequence model on small learnable data."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS, pattern_faces

from emotiontrack.tfutil import configure_tf

configure_tf(2, 0)

from emotiontrack.augment import augment_session  # noqa: E402
from emotiontrack.cnn import (  # noqa: E402
    ARCHITECTURES,
    build_cnn,
    class_weights,
    evaluate_cnn,
    plot_sample_predictions,
    train_cnn,
)
from emotiontrack.export import export_cnn, export_sequence  # noqa: E402
from emotiontrack.features import extract_features  # noqa: E402
from emotiontrack.formats import Frames, write_frames  # noqa: E402
from emotiontrack.pseudolabels import make_pseudolabels  # noqa: E402
from emotiontrack.sequence import (  # noqa: E402
    TrainingSession,
    frame_inputs,
    predict_session,
    split_participants,
    windows,
)
from emotiontrack.sequence_training import train_sequence_model  # noqa: E402


def dataset(n, seed):
    y = np.random.default_rng(seed).integers(0, 7, n)
    return pattern_faces(y, seed=seed), y


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn")
    data = {"train": dataset(1400, 1), "val": dataset(200, 2), "test": dataset(300, 3)}
    configure_tf(2, 0)
    train_cnn(
        data, EMOTIONS, d / "cnn.keras", d / "hist.csv", epochs=6, patience=3, seed=0, verbose=0
    )
    export_cnn(d / "cnn.keras", d / "cnn.onnx")  # what the features jobs run
    return d, data


def test_architecture_names_its_feature_layer():
    m = build_cnn(48, 7)
    assert m.get_layer("features").output.shape[-1] == 128
    assert m.output_shape == (None, 7)
    assert m.count_params() < 1_000_000


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_each_architecture_builds_and_trains_a_step(name, tmp_path):
    import keras

    m = build_cnn(48, 5, name=name)
    assert m.name == name and m.input_shape == (None, 48, 48, 1) and m.output_shape == (None, 5)
    assert len(m.get_layer("features").output.shape) == 2
    X, y = dataset(64, 4)
    y = y % 5
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    before = m.get_layer("conv0_0").get_weights()[0].copy()
    hist = m.fit(X[..., None].astype("float32"), y, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert not np.array_equal(before, m.get_layer("conv0_0").get_weights()[0])  # a gradient step
    p = m.predict(X[:4, ..., None].astype("float32"), verbose=0)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    m.save(tmp_path / "m.keras")  # plain load, no custom objects
    again = keras.models.load_model(tmp_path / "m.keras")
    assert np.allclose(again.predict(X[:4, ..., None].astype("float32"), verbose=0), p, atol=1e-5)


def test_architecture_specifics():
    from keras import layers

    rnn = build_cnn(48, 7, name="cnn-rnn")
    assert rnn.get_layer("rows").output.shape == (None, 6, 6 * 64)  # 6 rows of w*c
    assert isinstance(rnn.get_layer("row_lstm"), layers.LSTM)
    deep = build_cnn(48, 7, name="deep-elu")
    convs = [la for la in deep.layers if isinstance(la, layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert any(isinstance(la, layers.GlobalMaxPooling2D) for la in deep.layers)
    assert deep.get_layer("features").output.shape[-1] == 128
    with pytest.raises(ValueError, match="vgg-small, cnn-rnn, deep-elu"):
        build_cnn(48, 7, name="resnet")


def test_class_weights_balance_rare_classes():
    w = class_weights(np.array([0] * 90 + [1] * 10), 3)
    assert w[1] == pytest.approx(9 * w[0]) and w[2] == 1.0


def test_training_batches_are_not_autotuned():
    # tf.data's autotuning thread held every epoch's end for seconds (idle, ~3 s of each ~10 s
    # demo epoch on one thread) while Keras waited for it; the pipeline has nothing to tune
    from emotiontrack.cnn import _dataset

    X, y = dataset(10, 0)
    for aug in (None, lambda a, training: a):
        ds = _dataset(X, y, 4, shuffle=aug is not None, augment=aug, seed=0)
        assert ds.options().autotune.enabled is False
        assert [len(b) for b, _ in ds] == [4, 4, 2]


def test_cnn_learns_and_reports(trained):
    d, data = trained
    hist = pd.read_csv(d / "hist.csv")
    assert {"epoch", "loss", "val_loss", "accuracy", "val_accuracy"} <= set(hist.columns)
    m = evaluate_cnn(
        d / "cnn.keras",
        data,
        d / "hist.csv",
        EMOTIONS,
        d / "m.json",
        d / "cm.png",
        d / "curves.png",
    )
    assert m["accuracy"] > 0.8  # bands at class-specific heights are easy
    saved = json.loads((d / "m.json").read_text())
    assert saved["accuracy"] == m["accuracy"] and len(saved["confusion"]) == 7
    assert sum(map(sum, saved["confusion"])) == 300
    assert (d / "cm.png").stat().st_size > 5000 and (d / "curves.png").stat().st_size > 5000
    assert not (d / "samples.png").exists()


def test_sample_predictions_grid(trained, tmp_path):
    import keras
    from matplotlib.image import imread

    d, data = trained
    X, y = data["test"]
    y = y.copy()
    y[:150] = (y[:150] + 1) % 7  # half the labels wrong: both colours must show
    png = tmp_path / "s" / "samples.png"
    idx = plot_sample_predictions(keras.models.load_model(d / "cnn.keras"), X, y, EMOTIONS, png)
    assert len(idx) == 24 == len(set(idx.tolist())) and idx.max() < len(y)
    assert np.array_equal(
        idx, plot_sample_predictions(keras.models.load_model(d / "cnn.keras"), X, y, EMOTIONS, png)
    )
    img = imread(png)[..., :3]
    assert abs(img.shape[1] - 1140) <= 2 and abs(img.shape[0] - 900) <= 2  # 6 x 4 grid
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    greenish = ((g > 0.45) & (r < 0.35) & (b < 0.35)).sum()
    reddish = ((r > 0.7) & (g < 0.35) & (b < 0.35)).sum()
    assert greenish > 50 and reddish > 50
    m = evaluate_cnn(
        d / "cnn.keras",
        data,
        d / "hist.csv",
        EMOTIONS,
        tmp_path / "m.json",
        tmp_path / "cm.png",
        tmp_path / "curves.png",
        out_samples_png=tmp_path / "samples.png",
    )
    assert m["accuracy"] > 0.8 and (tmp_path / "samples.png").stat().st_size > 20000


def session_frames(path, y, found, size=96):
    faces = np.stack([np.kron(f, np.ones((2, 2), np.uint8)) for f in pattern_faces(y, seed=5)])
    faces[~found] = 0
    T = len(y)
    fr = Frames(
        timestamps=np.arange(T) / 5.0,
        face_found=found,
        frame_index=np.arange(T) * 6,
        boxes=np.where(found[:, None], 10, -1).astype("i4") * np.ones((T, 4), "i4"),
        faces=faces[:, :size, :size],
        attrs={"fps": 5.0, "source": "v.mp4", "source_sha256": "0f" * 32},
    )
    write_frames(path, fr)
    return path


def test_features_probabilities_and_gaps(trained, tmp_path):
    d, _ = trained
    y = np.repeat([3, 4, 0, 6], 15)
    found = np.ones(60, bool)
    found[20:25] = False
    session_frames(tmp_path / "fr.h5", y, found)
    extract_features(tmp_path / "fr.h5", d / "cnn.onnx", tmp_path / "ft.h5", EMOTIONS, chunk=16)
    with h5py.File(tmp_path / "ft.h5") as h5:
        f, p = h5["features"][...], h5["probabilities"][...]
        assert f.shape == (60, 128) and f.dtype == np.float32 and p.shape == (60, 7)
        assert np.allclose(p[found].sum(axis=1), 1, atol=1e-4)
        assert np.isnan(p[~found]).all() and (f[~found] == 0).all()
        assert (p[found].argmax(1) == y[found]).mean() > 0.8
        assert len(h5.attrs["model_sha256"]) == 64 and h5.attrs["fps"] == 5.0
        assert json.loads(h5.attrs["emotions"]) == EMOTIONS
        assert h5.attrs["source_sha256"] == "0f" * 32
        assert h5["frame_index"][...].tolist() == list(range(0, 360, 6))
    rec = make_pseudolabels(tmp_path / "ft.h5", tmp_path / "pl.npy", tmp_path / "pl.json")
    pl = np.load(tmp_path / "pl.npy")
    assert (pl["label"][~found] == -1).all() and (pl["label"][found] >= 0).all()
    assert rec["n_faces"] == 55 and sum(rec["counts"].values()) == 55
    js = json.loads((tmp_path / "pl.json").read_text())
    assert js["frames"][20] == {
        "time_s": 4.0,
        "label": None,
        "confidence": None,
        "face_found": False,
    }


def test_augmented_copies_are_seeded_and_keep_gaps(tmp_path):
    y = np.repeat([3, 4], 10)
    found = np.ones(20, bool)
    found[5] = False
    session_frames(tmp_path / "fr.h5", y, found)
    augment_session(tmp_path / "fr.h5", tmp_path / "a.h5", copies=3, seed=7)
    augment_session(tmp_path / "fr.h5", tmp_path / "b.h5", copies=3, seed=7)
    augment_session(tmp_path / "fr.h5", tmp_path / "c.h5", copies=3, seed=8)
    with (
        h5py.File(tmp_path / "a.h5") as a,
        h5py.File(tmp_path / "b.h5") as b,
        h5py.File(tmp_path / "c.h5") as c,
    ):
        assert a["faces"].shape == (3, 20, 96, 96)
        assert np.array_equal(a["faces"][...], b["faces"][...])
        assert not np.array_equal(a["faces"][...], c["faces"][...])
        assert (a["faces"][:, 5] == 0).all()
        with h5py.File(tmp_path / "fr.h5") as src:
            assert not np.array_equal(a["faces"][0, 0], src["faces"][0])
        assert len(json.loads(a.attrs["params"])) == 3


def test_frame_inputs_mask_no_face_rows():
    f = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    found = np.array([1, 0, 1, 1, 0], bool)
    x = frame_inputs(f, found)
    assert x.shape == (5, 5)
    assert (x[~found] == 0).all() and (x[found, -1] == 1).all()
    assert np.allclose(np.linalg.norm(x[found, :4], axis=1), 1)
    assert frame_inputs(f, found, np.ones((5, 7))).shape == (5, 12)


def test_windows_pad_with_zero_weight():
    x = np.ones((23, 3), np.float32)
    xs, ys, ws = windows(x, np.arange(23), np.ones(23), 10, 5)
    assert xs.shape == (4, 10, 3)  # starts 0, 5, 10 and a last one flush with the end
    assert ws.sum() == 40
    short = windows(x[:4], np.arange(4), np.ones(4), 10, 5)
    assert short[0].shape == (1, 10, 3) and short[2].sum() == 4 and (short[0][0, 4:] == 0).all()


def test_validation_is_by_participant():
    assert split_participants(["a", "b", "a", "c"], None) == (["a", "b"], ["c"])
    assert split_participants(["a", "b", "c"], ["a"]) == (["b", "c"], ["a"])
    assert split_participants(["a", "a"], None) == (["a"], [])


def test_lstm_smooths_flickering_pseudo_labels(trained, tmp_path):
    # Training targets are the CNN's pseudo labels; the LSTM should reproduce the sessions'
    # dominant emotion and carry it over frames without a face.
    d, _ = trained
    sessions = []
    for k, participant in enumerate(["p1", "p2", "p3"]):
        y = np.repeat(np.roll([3, 4, 0, 6, 5], k), 20)
        found = np.ones(100, bool)
        found[42:47] = False
        session_frames(tmp_path / f"{participant}.h5", y, found)
        extract_features(
            tmp_path / f"{participant}.h5",
            d / "cnn.onnx",
            tmp_path / f"{participant}_f.h5",
            EMOTIONS,
        )
        make_pseudolabels(
            tmp_path / f"{participant}_f.h5",
            tmp_path / f"{participant}.npy",
            tmp_path / f"{participant}.json",
        )
        sessions.append(
            TrainingSession(
                participant,
                str(tmp_path / f"{participant}_f.h5"),
                str(tmp_path / f"{participant}.npy"),
            )
        )
    info = train_sequence_model(
        sessions,
        EMOTIONS,
        tmp_path / "lstm.keras",
        tmp_path / "lh.csv",
        window=25,
        stride=12,
        epochs=25,
        patience=25,
        learning_rate=0.01,
    )
    assert info["validation_participants"] == ["p3"]
    export_sequence(tmp_path / "lstm.keras", tmp_path / "lstm.onnx")  # what predict jobs run
    df = predict_session(
        tmp_path / "p1_f.h5", tmp_path / "lstm.onnx", tmp_path / "pred.csv", EMOTIONS
    )
    assert list(df.columns) == [
        "time_s",
        "frame_index",
        "face_found",
        *EMOTIONS,
        "label",
        "cnn_label",
        "cnn_confidence",
    ]
    probs = df[EMOTIONS].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    truth = np.array(EMOTIONS)[np.repeat([3, 4, 0, 6, 5], 20)]
    assert (df["label"].to_numpy() == truth).mean() > 0.7
    # no face at 42-46: carried from frame 41, no CNN label there
    assert (df.loc[42:46, EMOTIONS].to_numpy() == df.loc[41, EMOTIONS].to_numpy()).all()
    assert (df.loc[42:46, "cnn_label"].fillna("") == "").all()
    again = pd.read_csv(tmp_path / "pred.csv")
    assert again.shape == (100, 13)
