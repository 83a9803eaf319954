"""The code records (rules/code.smk): each workflow script's package modules with their hashes,
the one code input of its rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import REPO

from emotiontrack.codedeps import package_files, write_code_record


def test_code_record_lists_the_scripts_modules_and_sha256sum_checks_it(tmp_path):
    modules = package_files(REPO / "workflow_scripts/trends.py")
    record = tmp_path / "trends.sha256"
    log = tmp_path / "trends.log"
    text = write_code_record(record, modules, log)
    names = [line.split("  ", 1)[1] for line in text.splitlines()]
    assert names == sorted(str(Path(m).relative_to(REPO)) for m in modules), names
    # the chart's module is run by trends, the CNN's (TensorFlow) is not
    assert "emotiontrack/trends.py" in names and "emotiontrack/cnn.py" not in names
    assert log.read_text() == f"{len(names)} modules recorded in {record}\n"
    ok = subprocess.run(["sha256sum", "--check", str(record)], cwd=REPO, capture_output=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a changed module no longer matches its record
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    (tmp_path / "emotiontrack/trends.py").write_text("# edited\n")
    bad = subprocess.run(["sha256sum", "--check", str(record)], cwd=tmp_path, capture_output=True)
    assert bad.returncode != 0 and b"emotiontrack/trends.py: FAILED" in bad.stdout, bad.stdout
