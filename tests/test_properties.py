"""Property-based tests (hypothesis) of the loaders of what users write: the session sheet, the
annotation CSV and the config. Any input either loads or raises UserInputError, never another
exception. Cases per loader: PROPERTY_CASES (200 each)."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import yaml
from conftest import EMOTIONS, REPO
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emotiontrack import UserInputError
from emotiontrack.checks import check_annotation, check_config, check_emotions
from emotiontrack.sheet import load_sessions
from emotiontrack.video import VideoInfo

PROPERTY_CASES = 200
FAST = settings(
    max_examples=PROPERTY_CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SHEET_SCHEMA = REPO / "config/schemas/sessions.schema.yaml"
CONFIG_SCHEMA = REPO / "config/schemas/config.schema.yaml"
TMP = Path(tempfile.mkdtemp(prefix="et-props-"))
(TMP / "v.mp4").write_bytes(b"x")
(TMP / "a#1.csv").write_text("start_s,end_s,emotion\n0,1,happy\n")
(TMP / "dir").mkdir()

# Cells drawn from the values users type, the paths above, and any text.
CELL = st.one_of(
    st.sampled_from(
        ["P01", "p-2", "A", "train", "test", "validation", "predict-only", "trian", "", " ", "#"]
        + [str(TMP / "v.mp4"), str(TMP / "a#1.csv"), str(TMP / "dir"), "missing.mp4"]
    ),
    st.text(alphabet=string.printable + "é\x00\ufeff", max_size=12),
)
HEADERS = st.one_of(
    st.just("participant\tcondition\tvideo\tsplit\tannotation"),
    st.just("participant\tcondition\tvideo\tsplit"),
    st.lists(CELL, min_size=1, max_size=6).map("\t".join),
)


def _write(name: str, data: str | bytes) -> Path:
    p = TMP / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    return p


@FAST
@given(
    header=HEADERS,
    rows=st.lists(st.lists(CELL, min_size=0, max_size=7), max_size=5),
    comments=st.lists(st.sampled_from(["# note", "  # indented", "", "\t"]), max_size=2),
    raw=st.one_of(st.none(), st.binary(max_size=60)),
)
def test_sheet_loads_or_raises_user_error(header, rows, comments, raw):
    text = "\n".join([header, *comments, *("\t".join(r) for r in rows)]) + "\n"
    path = _write("s.tsv", raw if raw is not None else text)
    try:
        df = load_sessions(path, SHEET_SCHEMA)
    except UserInputError as e:
        assert str(e) and "\n" not in str(e).strip()
        return
    assert (df["split"] == "train").any() and df.index.is_unique


NUM = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-5, 100000).map(str),
    st.sampled_from(["", "x", "1e309", "-0", "1,5", " 3 "]),
)
EMOTION = st.one_of(
    st.sampled_from([*EMOTIONS, "anger", "Happiness", "contempt", "hapy", "", "NA", "None"]),
    st.text(max_size=8),
)


@FAST
@given(
    columns=st.one_of(
        st.just(["start_s", "end_s", "emotion"]),
        st.just(["start_s", "end_s", "emotion", "face_visible"]),
        st.lists(st.sampled_from(["start_s", "end_s", "emotion", "x", "START_S"]), max_size=4),
    ),
    rows=st.lists(st.tuples(NUM, NUM, EMOTION, st.sampled_from(["0", "1", "2", "", "y"]))),
    duration=st.one_of(st.none(), st.floats(0.1, 3600)),
    raw=st.one_of(st.none(), st.binary(max_size=40)),
)
# found by CI: a column named twice, differing only in case (was a pandas TypeError)
@example(["start_s", "end_s", "emotion", "START_S"], [("0.0", "0.0", "angry", "0")], None, None)
def test_annotation_loads_or_raises_user_error(columns, rows, duration, raw):
    text = ",".join(columns) + "\n"
    text += "".join(",".join(r[: len(columns)]) + "\n" for r in rows)
    path = _write("a.csv", raw if raw is not None else text)
    video = None if duration is None else VideoInfo("v.mp4", 25.0, int(duration * 25), 64, 48)
    try:
        warnings = check_annotation(str(path), EMOTIONS, "sessions.tsv, session P1_A", video)
    except UserInputError as e:
        assert str(e).startswith("sessions.tsv, session P1_A: ")
        return
    assert all(isinstance(w, str) for w in warnings)


CONFIG_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10**6),
        st.floats(allow_nan=True),
        st.text(max_size=10),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
BASE = yaml.safe_load((REPO / "config/config.yaml").read_text())
SECTIONS = sorted(k for k, v in BASE.items() if isinstance(v, dict))


@FAST
@given(
    top=st.sampled_from([*BASE, "colour", "emotion"]),
    section=st.sampled_from(SECTIONS),
    key=st.sampled_from(["fps", "model", "epochs", "path", "compare", "nope", "pretrained"]),
    value=CONFIG_VALUES,
    where=st.sampled_from(["top", "nested", "replace"]),
)
def test_config_loads_or_raises_user_error(top, section, key, value, where):
    cfg = yaml.safe_load(yaml.safe_dump(BASE))
    if where == "top":
        cfg[top] = value
    elif where == "nested":
        cfg[section] = {**cfg[section], key: value}
    else:
        cfg = value
    try:
        check_config(cfg, CONFIG_SCHEMA, "config/config.yaml")
        check_emotions(cfg["emotions"], "config/config.yaml")
    except UserInputError as e:
        msg = str(e)
        assert msg.startswith("config/config.yaml: ") and "\n" not in msg and len(msg) < 1200
