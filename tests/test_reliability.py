"""Reliability (issue 15): every failure in its log, every bad input named before the run, the
wrong kind of file named as such, a full disk in one line. Unit level; the end-to-end runs
(kill -9 and resume, problem summary, bad_videos: exclude) are in test_resume.py."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tracemalloc
import wave

import cv2
import numpy as np
import pytest
import yaml
from conftest import EMOTIONS, REPO, write_video

from emotiontrack import UserInputError
from emotiontrack.checks import (
    check_annotation,
    check_config,
    check_emotions,
    check_pretrained,
    check_training_images,
    effective_fps,
    probe_videos,
    sampling_warning,
    training_class_counts,
)
from emotiontrack.logs import step_logging
from emotiontrack.problems import failed_jobs, first_error, problem_rows, summary
from emotiontrack.sheet import load_sessions
from emotiontrack.video import VideoInfo, check_video_file, probe_video

SCHEMA = REPO / "config/schemas/config.schema.yaml"
SHEET_SCHEMA = REPO / "config/schemas/sessions.schema.yaml"


def config(**changes) -> dict:
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg.update(changes)
    return cfg


# --- 1. every failure in its log ------------------------------------------------------------


def test_unexpected_exception_is_in_the_log_with_its_traceback(tmp_path, capfd):
    log = tmp_path / "step.log"
    with pytest.raises(SystemExit) as e:
        with step_logging(str(log)):
            print("working")
            {}["missing key"]  # noqa: B018 - an unexpected failure
    assert e.value.code == 1
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "KeyError: 'missing key'" in text
    assert "test_unexpected_exception_is_in_the_log" in text  # the frame that raised
    assert text.rstrip().endswith("EmotionTrack error: unexpected KeyError: 'missing key'")
    _, err = capfd.readouterr()
    assert err.strip() == (
        f"EmotionTrack error: unexpected KeyError: 'missing key' (traceback in {log})"
    )


def test_user_error_traceback_in_log_one_line_on_console(tmp_path, capfd):
    log = tmp_path / "step.log"
    with pytest.raises(SystemExit):
        with step_logging(str(log)):
            raise UserInputError("data/x.mp4: not a readable video")
    assert "Traceback" in log.read_text()
    assert capfd.readouterr().err.strip() == "EmotionTrack error: data/x.mp4: not a readable video"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_gives_one_line_and_leaves_no_part_file(tmp_path, real_media):
    """A real full disk: a 100 kB tmpfs under the frames file."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(disk)], check=True)
    try:
        script = (
            "from emotiontrack.logs import step_logging\n"
            "from emotiontrack.frames import extract_frames\n"
            f"with step_logging({str(tmp_path / 'f.log')!r}, outputs=[{str(disk / 'x.h5')!r}]):\n"
            f"    extract_frames({str(real_media / 'WolfgangLanger_Pexels.mp4')!r}, "
            f"{str(disk / 'x.h5')!r})\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
        )
        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == [
            f"EmotionTrack error: disk full while writing {disk / 'x.h5.part'}: free space (or "
            "move results/ to a larger disk), then run the same command again; half-written "
            "outputs are removed and redone"
        ]
        assert os.listdir(disk) == []  # the .part file is gone
        assert "errno = 28" in (tmp_path / "f.log").read_text()  # the traceback is in the log
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# --- 3. config, emotions, model names, training images, annotations ----------------------------


def test_config_error_is_one_line_naming_file_key_and_fix():
    cfg = config(frames={"fps": -1})
    with pytest.raises(UserInputError) as e:
        check_config(cfg, SCHEMA, "config/config.yaml")
    msg = str(e.value)
    assert msg.startswith("config/config.yaml: key 'frames.fps': -1 is less than or equal to")
    assert "Expected: Frames sampled per second" in msg or "Expected:" in msg
    assert "\n" not in msg and len(msg) < 400
    with pytest.raises(UserInputError, match=r"unknown key 'colour' at the top level"):
        check_config(config(colour="red"), SCHEMA, "c.yaml")
    with pytest.raises(UserInputError, match=r"did you mean 'bilstm'\?"):
        check_config(config(sequence={"model": "bilstn"}), SCHEMA, "c.yaml")


def test_config_defaults_are_filled_in():
    cfg = {"sessions": "s.tsv"}
    check_config(cfg, SCHEMA, "c.yaml")
    assert cfg["frames"]["fps"] == 5 and cfg["bad_videos"] == "fail"
    assert cfg["emotions"] == EMOTIONS


def test_emotion_typo_and_synonyms():
    with pytest.raises(UserInputError) as e:
        check_emotions(["angry", "hapy", "sad"], "config/config.yaml")
    assert str(e.value).startswith(
        "config/config.yaml: key 'emotions': 'hapy' is not a known emotion; did you mean 'happy'?"
    )
    check_emotions(["anger", "happiness", "sadness"], "c.yaml")  # synonyms are fine
    with pytest.raises(UserInputError, match="'anger' and 'angry' name the same emotion"):
        check_emotions(["angry", "anger"], "c.yaml")
    check_emotions(["happy", "pain"], "c.yaml", extra=["pain"])  # a class folder of the set


def test_pretrained_name_typo():
    with pytest.raises(UserInputError, match=r"did you mean 'fer2013-mini-xception'\?"):
        check_pretrained("fer2013-mini-xeption", EMOTIONS, "c.yaml")
    with pytest.raises(UserInputError, match="does not classify \\['contempt'\\]"):
        check_pretrained("fer2013-mini-xception", ["happy", "contempt"], "c.yaml")
    with pytest.raises(UserInputError, match="model file 'nope.keras' not found"):
        check_pretrained("nope.keras", EMOTIONS, "c.yaml")
    check_pretrained("fer2013-mini-xception", ["happy", "sad"], "c.yaml")


def test_every_class_needs_training_images(tmp_path):
    csv = tmp_path / "fer.csv"
    csv.write_text("emotion,pixels,Usage\n3,0 0,Training\n4,0 0,Training\n")
    counts = training_class_counts(csv)
    assert counts == {"happy": 1, "sad": 1}
    check_training_images(["happy", "sad"], counts, str(csv))
    with pytest.raises(UserInputError, match="no training images for 'angry'"):
        check_training_images(["angry", "happy"], counts, str(csv))
    folders = tmp_path / "ck"
    for cls in ("anger", "happy"):
        (folders / cls).mkdir(parents=True)
        cv2.imwrite(str(folders / cls / "1.png"), np.zeros((48, 48), np.uint8))
    (folders / "sadness").mkdir()
    counts = training_class_counts(folders)
    assert counts == {"angry": 1, "happy": 1, "sad": 0}
    with pytest.raises(UserInputError, match="no training images for 'sad'"):
        check_training_images(["angry", "sad"], counts, str(folders))


def annotation(tmp_path, text, name="a.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


VIDEO_30S = VideoInfo(path="data/v.mp4", fps=30.0, n_frames=900, width=640, height=480)


def test_annotation_past_the_video_end_is_an_error_naming_the_unit(tmp_path):
    """Problem 1: intervals all past the end (times in ms) stop the run before any job."""
    a = annotation(tmp_path, "start_s,end_s,emotion\n500,12000,happy\n12000,30000,sad\n")
    with pytest.raises(UserInputError) as e:
        check_annotation(a, EMOTIONS, "sessions.tsv, session P1_A", VIDEO_30S)
    msg = str(e.value)
    assert "every interval (500-30000 s) lies past the end of the video" in msg
    assert "milliseconds: divide them by 1000" in msg and msg.startswith("sessions.tsv, session")
    a = annotation(tmp_path, "start_s,end_s,emotion\n0,12000,happy\n12000,30000,sad\n", "b.csv")
    with pytest.raises(UserInputError, match="intervals reach 30000 s, 1000 times the length"):
        check_annotation(a, EMOTIONS, "row", VIDEO_30S)


def test_annotation_warnings_partly_past_end_and_minutes(tmp_path):
    a = annotation(tmp_path, "start_s,end_s,emotion\n0,20,happy\n20,45,sad\n")
    (w,) = check_annotation(a, EMOTIONS, "row", VIDEO_30S)
    assert "1 of 2 intervals extend past the video's end (30.0 s" in w
    long = VideoInfo(path="v.mp4", fps=25.0, n_frames=25 * 600, width=64, height=48)
    a = annotation(tmp_path, "start_s,end_s,emotion\n0,4,happy\n4,9.5,sad\n", "m.csv")
    (w,) = check_annotation(a, EMOTIONS, "row", long)
    assert "are its times in minutes?" in w
    assert check_annotation(a, EMOTIONS, "row", None) == []  # no video: contents only


@pytest.mark.parametrize(
    "text, message",
    [
        ("start_s,end_s,emotion\n0,1,hapy\n", "emotion 'hapy' is not in the study's emotion list"),
        ("start_s,end_s,emotion\n0,1,anger\n", None),  # a synonym
        ("start_s,end_s,emotion\n0,x,happy\n", "end_s must be a finite number, got 'x'"),
        ("start_s,end_s,emotion\n2,1,happy\n", "start_s (2) must be less than end_s (1)"),
        ("start_s,end_s,emotion\n2,3,happy\n0,1,sad\n", "must be sorted by start_s"),
        ("start_s,end_s,emotion\n0,2,happy\n1,3,sad\n", "overlaps the previous one"),
    ],
)
def test_annotation_contents(tmp_path, text, message):
    a = annotation(tmp_path, text)
    if message is None:
        assert check_annotation(a, EMOTIONS, "row", VIDEO_30S) == []
        return
    with pytest.raises(UserInputError) as e:
        check_annotation(a, EMOTIONS, "sessions.tsv, session P1_A", VIDEO_30S)
    assert message in str(e.value) and "a.csv" in str(e.value)


def test_fps_above_the_video_rate_warns_and_the_real_rate_is_used():
    slow = VideoInfo(path="v.mp4", fps=4.0, n_frames=40, width=64, height=48)
    assert "above the video's own rate (4 fps)" in sampling_warning(slow, 10, "row")
    assert sampling_warning(slow, 2, "row") is None
    assert effective_fps(10, [slow, VIDEO_30S]) == 4.0
    assert effective_fps(5, [VIDEO_30S]) == 5.0


def test_frames_record_the_real_sampling_rate(tmp_path):
    from emotiontrack.frames import extract_frames

    v = write_video(tmp_path / "slow.mp4", [np.full((48, 64, 3), i, np.uint8) for i in range(8)], 4)
    extract_frames(v, tmp_path / "f.h5", sample_fps=10)
    import h5py

    with h5py.File(tmp_path / "f.h5") as h5:
        assert h5.attrs["fps"] == 4.0 and h5["face_found"].shape == (8,)
        assert h5.attrs["n_frames_video"] == 8


# --- 4. the wrong kind of file --------------------------------------------------------------


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


@pytest.fixture
def wrong_files(tmp_path, real_media):
    d = tmp_path / "data"
    d.mkdir()
    shutil.copy(real_media / "0-f15-hao-ph.jpg", d / "photo.mp4")
    png = d / "still.mp4"
    cv2.imwrite(str(d / "still.png"), cv2.imread(str(real_media / "multi_face.jpg")))
    (d / "still.png").rename(png)
    with wave.open(str(d / "voice.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    hdlr = _box(b"hdlr", b"\0" * 8 + b"soun" + b"\0" * 12 + b"SoundHandler\0")
    ftyp = _box(b"ftyp", b"M4A \0\0\0\0isom")
    (d / "audio.m4a.mp4").write_bytes(ftyp + _box(b"moov", _box(b"trak", _box(b"mdia", hdlr))))
    (d / "notrack.mp4").write_bytes(ftyp + _box(b"moov", _box(b"mvhd", b"\0" * 100)))
    ok = write_video(d / "ok.mp4", [np.full((48, 64, 3), i * 8, np.uint8) for i in range(30)])
    data = bytearray(ok.read_bytes())
    at = data.find(b"mdat")
    size = struct.unpack(">I", data[at - 4 : at])[0]
    data[at + 4 : at - 4 + size] = b"\0" * (size - 8)  # index intact, every frame zeroed
    (d / "zeroframes.mp4").write_bytes(bytes(data))
    (d / "folder.mp4").mkdir()
    return d


@pytest.mark.parametrize(
    "name, message",
    [
        ("photo.mp4", "is a JPEG image, not a video"),
        ("still.mp4", "is a PNG image, not a video"),
        ("folder.mp4", "is a directory, not a video file"),
        ("voice.wav", "is a WAV audio file with no picture"),
        ("audio.m4a.mp4", "the MP4/MOV container has only an audio track"),
        ("notrack.mp4", "the MP4/MOV container has no video track"),
        ("zeroframes.mp4", "a video of zero decodable frames"),
    ],
)
def test_wrong_kind_of_file_gets_its_own_message(wrong_files, name, message):
    with pytest.raises(UserInputError) as e:
        probe_video(wrong_files / name)
    assert str(e.value).startswith(str(wrong_files / name)) and message in str(e.value)


def test_container_check_skips_the_media_data(tmp_path):
    """The track check walks the MP4's box headers to the index: a 200 MB media box before it
    is skipped, not read (memory stays flat in the video's length; a recording's index may sit
    anywhere, here after the media)."""
    hdlr = _box(b"hdlr", b"\0" * 8 + b"soun" + b"\0" * 12 + b"SoundHandler\0")
    ftyp = _box(b"ftyp", b"M4A \0\0\0\0isom")
    path = tmp_path / "long_audio.mp4"
    mdat = 200 << 20
    with open(path, "wb") as fh:  # sparse: the media box's 200 MB are never written
        fh.write(ftyp + struct.pack(">I", mdat) + b"mdat")
        fh.seek(len(ftyp) + mdat)
        fh.write(_box(b"moov", _box(b"trak", _box(b"mdia", hdlr))))
    tracemalloc.start()
    try:
        with pytest.raises(UserInputError, match="has only an audio track"):
            check_video_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated to check a 200 MB file"


def test_probe_reads_the_container_and_caches(wrong_files, tmp_path):
    cache = tmp_path / "cache.json"
    paths = [str(wrong_files / "ok.mp4"), str(wrong_files / "still.mp4")]
    got = probe_videos(paths, cache)
    assert got[paths[0]].n_frames == 30 and got[paths[0]].fps == 30.0
    assert "PNG image" in got[paths[1]]
    stored = json.loads(cache.read_text())
    stored[paths[0]]["result"]["n_frames"] = 31  # a cached answer is reused while unchanged
    cache.write_text(json.dumps(stored))
    assert probe_videos(paths, cache)[paths[0]].n_frames == 31


# --- 5. the sheet's '#' ---------------------------------------------------------------------


def test_hash_inside_a_value_is_kept_comment_lines_skipped(tmp_path):
    (tmp_path / "data").mkdir()
    for f in ("take#2.mp4", "a.mp4", "ann#1.csv"):
        (tmp_path / "data" / f).write_bytes(b"x")
    sheet = tmp_path / "s.tsv"
    sheet.write_text(
        "participant\tcondition\tvideo\tsplit\tannotation\n"
        "# a comment line\n"
        f"P1\tA\t{tmp_path}/data/take#2.mp4\ttrain\t{tmp_path}/data/ann#1.csv\n"
        "  # indented comment\n"
        f"P2\tA\t{tmp_path}/data/a.mp4\tvalidation\t{tmp_path}/data/ann#1.csv\n"
        f"P3\tA\t{tmp_path}/data/a.mp4\ttrian\t\n"
    )
    with pytest.raises(UserInputError) as e:
        load_sessions(sheet, SHEET_SCHEMA)
    assert "s.tsv, row 6 (P3/A): split: 'trian' is not one of" in str(e.value)  # file's line
    sheet.write_text("\n".join(sheet.read_text().splitlines()[:-1]) + "\n")
    df = load_sessions(sheet, SHEET_SCHEMA)
    assert df.loc["P1_A", "video"].endswith("data/take#2.mp4")
    assert df.loc["P1_A", "annotation"].endswith("data/ann#1.csv")
    assert df.loc["P2_A", "split"] == "validation"


def test_directory_in_the_sheet_is_named_as_such(tmp_path):
    (tmp_path / "vids").mkdir()
    sheet = tmp_path / "s.tsv"
    sheet.write_text(f"participant\tcondition\tvideo\tsplit\nP1\tA\t{tmp_path}/vids\ttrain\n")
    with pytest.raises(UserInputError, match="video .* is a directory; give the path of the video"):
        load_sessions(sheet, SHEET_SCHEMA)


# --- 1/8. the evaluation with nothing to score, and the end-of-run summary --------------------


def test_report_with_no_face_frame_to_score(tmp_path):
    """Problem 1's crash: metrics of None (annotated frames, but no face found in any) formatted
    as '–' in every table of the report."""
    from test_evaluate import report, session_of, write, write_predictions

    rows = [(t / 10, 0, "", "") for t in range(5)]
    pred = write_predictions(tmp_path / "P1_A.csv", rows)
    ann = write(tmp_path / "ann.csv", "start_s,end_s,emotion\n0,1,happy")
    r, paths = report([session_of("P1_A", pred, ann)], tmp_path)
    assert r["has_ground_truth"] and r["pooled"]["face_frames"]["n"] == 0
    md = paths["out_md"].read_text()
    assert "| 1 | per-frame CNN (argmax) | – | – | – |" in md
    assert "| per-frame CNN (argmax) | – | – |" in md  # per-class F1 of classes never scored


def test_problem_summary_from_snakemake_log(tmp_path):
    frames_log = tmp_path / "logs/extract_frames/P2_A.log"
    frames_log.parent.mkdir(parents=True)
    frames_log.write_text(
        "Traceback ...\nEmotionTrack error: data/P2_A.mp4: is a PNG image, not a video\n"
    )
    study_log = tmp_path / "logs/evaluate_study.log"
    study_log.write_text("Traceback (most recent call last):\nKeyError: 'x'\n")
    ok_log = tmp_path / "logs/contact_sheet/P1_A.log"  # a job of the failed group that succeeded
    ok_log.parent.mkdir(parents=True)
    ok_log.write_text("done\n")
    run_log = tmp_path / "run.log"
    run_log.write_text(
        "Error in rule extract_frames:\n    jobid: 3\n    input: data/P2_A.mp4\n"
        f"    log: {frames_log} (check log file(s) for error details)\n"
        "Error in rule evaluate_study:\n    jobid: 1\n"
        f"    log: {study_log} (check log file(s) for error details)\n"
        "Error in group frames:\n    jobs:\n        rule contact_sheet:\n"
        f"            log: {ok_log} (check log file(s) for error details)\n"
        "        rule extract_frames:\n"
        f"            log: {frames_log} (check log file(s) for error details)\n"
    )
    assert failed_jobs(run_log) == [
        ("extract_frames", str(frames_log)),
        ("evaluate_study", str(study_log)),
    ]
    assert first_error(study_log) == "KeyError: 'x'"
    rows = problem_rows(run_log, ["P1_A", "P2_A"], {"P3_A": "x.mp4: is a directory"}, ["w"])
    assert [(r["session"], r["step"], r["kind"]) for r in rows] == [
        ("P2_A", "extract_frames", "failed"),
        ("", "evaluate_study", "failed"),
        ("P3_A", "check videos", "excluded"),
        ("", "check inputs", "warning"),
    ]
    text = summary(rows, "results/problems.tsv")
    assert "P2_A  extract_frames: data/P2_A.mp4: is a PNG image, not a video" in text
    assert "(study)  evaluate_study: KeyError: 'x'" in text and "P3_A: x.mp4" in text
