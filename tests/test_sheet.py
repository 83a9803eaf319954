import pytest
from conftest import REPO

from emotiontrack import UserInputError
from emotiontrack.sheet import load_sessions

SCHEMA = REPO / "config/schemas/sessions.schema.yaml"
HEADER = "participant\tcondition\tvideo\tsplit\tannotation\n"


def sheet(tmp_path, rows):
    p = tmp_path / "sessions.tsv"
    p.write_text(HEADER + "".join("\t".join(r) + "\n" for r in rows))
    return p


@pytest.fixture
def video(tmp_path):
    v = tmp_path / "v.mp4"
    v.write_bytes(b"x")
    return str(v)


def test_valid_sheet(tmp_path, video):
    df = load_sessions(
        sheet(
            tmp_path,
            [
                ("p1", "A", video, "train", ""),
                ("p2", "B", "resources/demo/videos/p2_B.mp4", "test", ""),
            ],
        ),
        SCHEMA,
        generated_prefixes=("resources/demo/",),
    )
    assert list(df.index) == ["p1_A", "p2_B"]
    assert df.loc["p2_B", "split"] == "test"


@pytest.mark.parametrize(
    "row, message",
    [
        (("p_1", "A", "{v}", "train", ""), "row 3 (p_1/A): participant"),
        (("p2", "A B", "{v}", "train", ""), "letters, digits and '-'"),
        (("p2", "A", "{v}", "training", ""), "split"),
        (("p2", "A", "missing.mp4", "train", ""), "video file 'missing.mp4' does not exist"),
        (("p1", "A", "{v}", "test", ""), "duplicate session p1/A (also on row 2)"),
        (("p2", "A", "{v}", "test", "nope.csv"), "annotation file 'nope.csv' does not exist"),
    ],
)
def test_bad_rows_are_named(tmp_path, video, row, message):
    rows = [("p1", "A", video, "train", ""), tuple(c.format(v=video) for c in row)]
    with pytest.raises(UserInputError) as e:
        load_sessions(sheet(tmp_path, rows), SCHEMA)
    assert "sessions.tsv" in str(e.value) and message in str(e.value)


def test_needs_training_sessions_and_columns(tmp_path, video):
    with pytest.raises(UserInputError, match="no row has split 'train'"):
        load_sessions(sheet(tmp_path, [("p1", "A", video, "test", "")]), SCHEMA)
    p = tmp_path / "s2.tsv"
    p.write_text("participant\tvideo\np1\tv.mp4\n")
    with pytest.raises(UserInputError, match=r"missing column\(s\) \['condition', 'split'\]"):
        load_sessions(p, SCHEMA)
