from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EMOTIONS

from emotiontrack import UserInputError
from emotiontrack.datasets import load_fer2013_csv, load_fer_dataset, load_image_folders
from emotiontrack.labels import FER2013_CODES, canonical, fer_code_to_index


def write_fer_csv(path: Path, rows: list[tuple[int, np.ndarray, str]]) -> Path:
    with open(path, "w") as fh:
        fh.write("emotion,pixels,Usage\n")
        for code, img, usage in rows:
            fh.write(f"{code},{' '.join(map(str, img.reshape(-1)))},{usage}\n")
    return path


def img(value: int) -> np.ndarray:
    return np.full((48, 48), value, np.uint8)


def test_fer2013_codes_are_not_alphabetical():
    assert FER2013_CODES[3] == "happy" and FER2013_CODES[6] == "neutral"
    assert FER2013_CODES[0] == "angry" and FER2013_CODES[1] == "disgust"
    assert fer_code_to_index(EMOTIONS) == {i: i for i in range(7)}
    five = ["happy", "surprise", "anger", "sadness", "fear"]
    assert fer_code_to_index(five) == {3: 0, 5: 1, 0: 2, 4: 3, 2: 4}
    assert canonical("Sadness") == "sad"


def test_csv_and_folders_agree_on_labels(tmp_path):
    # The same image labelled 'happy' in a FER2013 CSV (code 3) and in a folder layout must load
    # as the same class index; a different study order moves both the same way.
    order = ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust"]
    csv = write_fer_csv(
        tmp_path / "fer.csv",
        [(3, img(10), "Training"), (4, img(20), "PublicTest"), (0, img(30), "PrivateTest")],
    )
    d = load_fer2013_csv(csv, order)
    assert d["train"][1].tolist() == [order.index("happy")]
    assert d["val"][1].tolist() == [order.index("sad")]
    assert d["test"][1].tolist() == [order.index("angry")]
    assert d["train"][0].shape == (1, 48, 48) and d["train"][0].dtype == np.uint8
    assert int(d["train"][0][0, 0, 0]) == 10
    for split, cls, val in (("train", "happy", 10), ("test", "Sadness", 20), ("val", "anger", 30)):
        (tmp_path / "folders" / split / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "folders" / split / cls / "a.png"), img(val))
    f = load_image_folders(tmp_path / "folders", order)
    assert f["train"][1].tolist() == [order.index("happy")]
    assert f["test"][1].tolist() == [order.index("sad")]
    assert f["val"][1].tolist() == [order.index("angry")]


def test_ck_style_folders_split_stratified(tmp_path):
    five = ["happy", "surprise", "anger", "sadness", "fear"]
    for c, n in zip(
        ["happy", "surprise", "anger", "sadness", "fear", "contempt"],
        [20, 20, 10, 10, 10, 5],
        strict=True,
    ):
        (tmp_path / c).mkdir()
        for i in range(n):
            cv2.imwrite(str(tmp_path / c / f"{i}.png"), img(i * 5))
    d = load_fer_dataset(tmp_path, five, seed=1, val_fraction=0.1, test_fraction=0.2)
    total = sum(len(y) for _, y in d.values())
    assert total == 70  # contempt is not in the study's list: dropped
    for split in ("train", "val", "test"):
        assert set(d[split][1].tolist()) == set(range(5)), split
    assert len(d["test"][1]) == 14
    again = load_fer_dataset(tmp_path, five, seed=1, val_fraction=0.1, test_fraction=0.2)
    assert np.array_equal(again["test"][0], d["test"][0])


def test_five_class_subset_of_fer_csv(tmp_path):
    rows = [(c, img(c), "Training") for c in range(7)]
    d = load_fer2013_csv(
        write_fer_csv(tmp_path / "f.csv", rows), ["happy", "surprise", "angry", "sad", "fear"]
    )
    assert sorted(d["train"][1].tolist()) == [0, 1, 2, 3, 4]
    assert len(d["train"][1]) == 5


@pytest.mark.parametrize(
    "text, message",
    [
        ("emotion,pixels\n3,1 2 3\n", "missing ['Usage']"),
        ("emotion,pixels,Usage\n3,1 2 3,Training\n", "row 2: 3 pixel values, expected 2304"),
        ("emotion,pixels,Usage\n9," + " ".join(["1"] * 2304) + ",Training\n", "row 2: emotion 9"),
        ("emotion,pixels,Usage\n3," + " ".join(["1"] * 2304) + ",Train\n", "row 2: Usage 'Train'"),
    ],
)
def test_bad_fer_csv_names_file_and_row(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(UserInputError) as e:
        load_fer2013_csv(p, EMOTIONS)
    assert str(p) in str(e.value) and message in str(e.value)
