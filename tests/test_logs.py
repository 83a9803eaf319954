import os

import pytest

from emotiontrack import UserInputError
from emotiontrack.logs import progress, step_logging


def test_step_output_goes_to_the_log_and_user_errors_exit_cleanly(tmp_path, capfd):
    log = tmp_path / "step.log"
    with pytest.raises(SystemExit) as e:
        with step_logging(str(log)) as logger:
            print("from python")
            os.write(2, b"from a C library\n")
            logger.info("progress")
            raise UserInputError("data/x.mp4: not a readable video")
    assert e.value.code == 1
    text = log.read_text()
    assert "from python" in text and "from a C library" in text and "progress" in text
    out, err = capfd.readouterr()
    assert err.strip() == "EmotionTrack error: data/x.mp4: not a readable video"
    assert "from python" not in out + err


def test_progress_reaches_the_step_log(tmp_path, monkeypatch):
    """A long job's log says how far it got: a line per interval and one at the end."""
    clock = iter(range(100))
    monkeypatch.setattr("emotiontrack.logs.time.perf_counter", lambda: float(next(clock)))
    log = tmp_path / "step.log"
    with step_logging(str(log)):
        assert list(progress(range(10), 10, "frames", every_s=3.0)) == list(range(10))
        assert list(progress(iter("ab"), None, "blocks")) == ["a", "b"]
    lines = [x.split(": ", 1)[1] for x in log.read_text().splitlines() if "emotiontrack.logs" in x]
    assert lines[0] == "frames: 3/10 (30%), 1.0/s"  # at t=3 s after 3 items
    assert lines[-2] == "frames: 10 done in 11.0 s, 0.9/s"  # the end: 10 items by t=11 s
    assert lines[-1] == "blocks: 2 done in 3.0 s, 0.7/s" and len(lines) == 5
