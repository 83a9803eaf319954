import h5py
import numpy as np
import pytest
from conftest import write_video

from emotiontrack import UserInputError
from emotiontrack.faces import FaceDetector, crop_face
from emotiontrack.frames import contact_sheet, extract_frames
from emotiontrack.video import sample_frames


def test_sampling_is_time_based(noface_video):
    info, frames = sample_frames(noface_video, 5.0)
    got = list(frames)
    assert info.fps == pytest.approx(30.0) and info.n_frames == 90
    assert [i for i, _, _ in got] == list(range(0, 90, 6))  # 3 s at 5 FPS
    assert [t for _, t, _ in got] == pytest.approx([i / 30 for i in range(0, 90, 6)])
    # brightness grows with the frame index: the frames really are the sampled ones
    means = [f.mean() for _, _, f in got]
    assert means[1] > means[0]
    _, slow = sample_frames(noface_video, 60.0)  # faster than the video: every frame once
    assert len(list(slow)) == 90


@pytest.mark.parametrize(
    "content, problem", [(b"", "empty"), (b"not a video at all" * 100, "not a readable video")]
)
def test_bad_videos_name_the_file(tmp_path, content, problem):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(UserInputError) as e:
        info, frames = sample_frames(p, 5)
        list(frames)
    assert str(p) in str(e.value) and problem in str(e.value)
    with pytest.raises(UserInputError, match="not found"):
        sample_frames(tmp_path / "missing.mp4", 5)


def test_truncated_video_fails_cleanly(tmp_path, noface_video):
    p = tmp_path / "cut.mp4"
    p.write_bytes(noface_video.read_bytes()[:600])
    with pytest.raises(UserInputError) as e:
        _, frames = sample_frames(p, 5)
        list(frames)
    assert str(p) in str(e.value)


def test_no_face_session_gives_flagged_gaps(tmp_path, noface_video):
    out = tmp_path / "f.h5"
    summary = extract_frames(noface_video, out, sample_fps=5)
    assert summary == {"n_frames": 15, "n_faces": 0, "detection_rate": 0.0}
    with h5py.File(out) as h5:
        assert h5["faces"].shape == (15, 128, 128) and h5["faces"].dtype == np.uint8
        assert h5.attrs["crop_size"] == 128 and h5.attrs["margin"] == 0.5
        assert not h5["face_found"][...].any()
        assert (h5["boxes"][...] == -1).all()
        assert h5["frame_index"][...].tolist() == list(range(0, 90, 6))
        assert len(h5.attrs["source_sha256"]) == 64 and h5.attrs["fps"] == 5
    contact_sheet(out, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_crop_face_pads_at_borders():
    gray = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    c = crop_face(gray, (80, 80, 30, 30), 48, margin=0.1)
    assert c.shape == (48, 48)
    inner = crop_face(gray, (30, 30, 40, 40), 40, margin=0.0)
    assert np.array_equal(inner, gray[30:70, 30:70])


def test_crop_face_from_colour_equals_crop_from_gray_and_padding_the_whole_frame():
    # as_gray converts the patch only, and only the patch is padded: the same pixels as the
    # frame converted, padded whole and cut, for boxes inside, across and outside the edges
    import cv2

    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (120, 160, 3), np.uint8)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    for box in [(40, 30, 50, 50), (-20, 10, 60, 55), (130, 90, 40, 44), (-90, -80, 30, 30)]:
        for margin, size in [(0.5, 128), (0.1, 48), (-0.2, 24)]:
            x, y, w, h = box
            side = max(w, h) * (1 + 2 * margin)
            x0, y0, s = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), round(side)
            pad = max(0, -x0, -y0, x0 + s - 160, y0 + s - 120)
            padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            patch = padded[y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
            interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
            want = cv2.resize(patch, (size, size), interpolation=interp)
            assert np.array_equal(crop_face(gray, box, size, margin), want)
            assert np.array_equal(crop_face(bgr, box, size, margin, as_gray=True), want)


def test_detector_finds_a_photographed_face_only_where_there_is_one():
    skimage = pytest.importorskip("skimage.data")
    astronaut = skimage.astronaut()[..., ::-1].copy()  # RGB -> BGR
    import cv2

    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    box = FaceDetector().detect(gray)
    assert box is not None
    x, y, w, h = box
    assert 150 < x + w / 2 < 300 and 50 < y + h / 2 < 200  # her face, upper middle of the photo
    assert FaceDetector().detect(np.full((240, 320), 128, np.uint8)) is None


def test_memory_stays_flat_with_length(tmp_path):
    # Frames are streamed into HDF5 in blocks: a 4x longer video must not need 4x the memory.
    import resource

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    long = write_video(tmp_path / "long.mp4", [frame] * 600)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extract_frames(long, tmp_path / "long.h5", sample_fps=30, block=64)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # 600 crops of 128x128 would be 9.8 MB if held; the frames themselves 138 MB
    assert grown_kb < 60_000
    with h5py.File(tmp_path / "long.h5") as h5:
        assert h5["faces"].shape[0] == 600
