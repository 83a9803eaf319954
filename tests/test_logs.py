import os

import pytest

from emotiontrack import UserInputError
from emotiontrack.logs import step_logging


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
