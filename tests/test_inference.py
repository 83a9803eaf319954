"""The CNN through OpenCV's DNN module gives Keras's outputs; unsupported models fall back."""

import h5py
import numpy as np
import pytest
from conftest import EMOTIONS, randomised_cnn

from emotiontrack.tfutil import configure_tf

configure_tf(2, 0)

import keras  # noqa: E402

from emotiontrack.cnn import batched_outputs  # noqa: E402
from emotiontrack.features import extract_features, load_cnn  # noqa: E402
from emotiontrack.inference import OpenCVCNN, UnsupportedModel  # noqa: E402


@pytest.mark.parametrize("size, n_classes", [(48, 7), (40, 5)])
def test_opencv_outputs_match_keras(tmp_path, size, n_classes):
    model = randomised_cnn(tmp_path / "m.keras", size, n_classes)
    X = np.random.default_rng(1).integers(0, 256, (100, size, size)).astype(np.uint8)
    X[:3] = 128  # flat images: standardisation divides by sqrt(0 + eps), as Keras does
    f_keras, p_keras = batched_outputs(model, X)
    net = OpenCVCNN(tmp_path / "m.keras")
    assert (net.input_size, net.n_classes, net.feature_dim) == (size, n_classes, 128)
    f, p = net.outputs(X, batch_size=32)
    assert f.shape == f_keras.shape and p.shape == p_keras.shape
    assert np.abs(f - f_keras).max() <= 1e-4 * np.abs(f_keras).max()
    assert np.abs(p - p_keras).max() < 1e-5
    assert p_keras.std(axis=0).max() > 0.05  # the comparison is not between constants


def test_unsupported_model_falls_back_to_keras(tmp_path):
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(8, 3, strides=2)(inp)  # strided: not run through OpenCV
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu", name="features")(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    keras.Model(inp, out).save(tmp_path / "strided.keras")
    with pytest.raises(UnsupportedModel, match="convolution settings"):
        OpenCVCNN(tmp_path / "strided.keras")
    with pytest.raises(UnsupportedModel):
        load_cnn(tmp_path / "strided.keras", engine="opencv")
    *_, name = load_cnn(tmp_path / "strided.keras", engine="auto")
    assert name.startswith("keras")


def test_features_file_same_with_either_engine(tmp_path):
    randomised_cnn(tmp_path / "m.keras")
    rng = np.random.default_rng(2)
    found = rng.random(70) > 0.2
    with h5py.File(tmp_path / "fr.h5", "w") as h5:
        h5["faces"] = np.where(found[:, None, None], rng.integers(0, 256, (70, 96, 96)), 0).astype(
            np.uint8
        )
        h5["timestamps"] = np.arange(70) / 5.0
        h5["frame_index"] = np.arange(70) * 6
        h5["face_found"] = found
        h5.attrs.update(fps_sampled=5.0, source="v.mp4", source_sha256="0f" * 32)
    out = {}
    for engine in ("opencv", "keras"):
        extract_features(
            tmp_path / "fr.h5", tmp_path / "m.keras", tmp_path / f"{engine}.h5", EMOTIONS,
            chunk=32, engine=engine,
        )  # fmt: skip
        with h5py.File(tmp_path / f"{engine}.h5") as h5:
            out[engine] = (h5["features"][...], h5["probabilities"][...], h5.attrs["inference"])
    (f_cv, p_cv, name_cv), (f_k, p_k, name_k) = out["opencv"], out["keras"]
    assert name_cv.startswith("opencv-dnn") and name_k.startswith("keras")
    assert np.isnan(p_cv[~found]).all() and (f_cv[~found] == 0).all()
    assert np.allclose(p_cv[found], p_k[found], atol=1e-5)
    assert np.allclose(f_cv, f_k, atol=1e-4 * np.abs(f_k).max())
