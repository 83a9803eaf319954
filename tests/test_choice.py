"""The method that writes `label` is chosen on validation sessions only, and applied as scored."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS
from studies import prepare, snakemake
from test_baselines_comparison import noisy_probs, session

from emotiontrack.choice import choice_markdown, choose_method, predict_with_method
from emotiontrack.comparison import compare_methods, hmm_from_training, read_hmm, write_hmm
from emotiontrack.formats import PseudoLabels, write_pseudolabels


def test_choice_picks_the_best_on_validation_and_predicts_with_it(tmp_path):
    truth = np.repeat([3, 4, 6, 0, 5], 12)
    cnn = noisy_probs(truth, 4)
    cnn[20:23] = np.nan
    # a sequence model that is perfect on the validation session: chosen
    perfect = session(tmp_path, "v1_A", truth, cnn, np.eye(7)[truth])
    train = [{"features": perfect["features"], "annotation": "", "pseudolabels": ""}]
    train[0]["pseudolabels"] = str(tmp_path / "p.npy")
    none = np.zeros(60, bool)
    pl = PseudoLabels(np.arange(60) / 5, np.full(60, -1), np.full(60, np.nan, "f4"), none)
    write_pseudolabels(train[0]["pseudolabels"], tmp_path / "p.json", pl)
    hmm = hmm_from_training(train, EMOTIONS)
    assert hmm["from"] == "pseudo labels"
    write_hmm(tmp_path / "hmm.json", hmm)
    assert read_hmm(tmp_path / "hmm.json") == hmm  # the file holds the estimate exactly
    c = choose_method([perfect], hmm, EMOTIONS, tmp_path / "c.json", default="refine")
    assert c["method"] == "lstm" and c["validation_macro_f1"] == 1.0
    assert c["hmm"] == hmm  # prediction applies the HMM that was scored
    assert c["validation"]["sessions"] == ["v1_A"] and c["validation"]["n_frames"] == 57

    # a useless sequence model (always "angry"): the best of the others on validation is chosen
    bad = session(tmp_path, "v2_A", truth, cnn, np.eye(7)[np.zeros(60, int)])
    c = choose_method([bad], hmm, EMOTIONS, tmp_path / "c.json", default="refine")
    result, pooled, _, y = compare_methods([bad], hmm, EMOTIONS)
    f1 = {m: r["macro_f1"] for m, r in result["methods"].items()}
    assert c["method"] != "lstm" and f1[c["method"]] == max(f1.values()) > f1["cnn"]
    assert json.loads((tmp_path / "c.json").read_text())["method"] == c["method"]
    md = choice_markdown(c)
    assert md.startswith("**Predictions (`label`, trend charts) were made by:")
    assert f"{f1[c['method']]:.3f}" in md

    # prediction applies the chosen baseline exactly as it was scored; cnn_label stays the CNN's
    predict_with_method(bad["features"], tmp_path / "c.json", {}, tmp_path / "out.csv", EMOTIONS)
    df = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    face = ~np.isnan(cnn).any(axis=1)
    assert (df["label"][face].to_numpy() == pooled[c["method"]]).all()
    assert (df["cnn_label"][face].to_numpy() == np.array(EMOTIONS)[cnn[face].argmax(1)]).all()
    assert (df["label"][20:23] == df["label"][19]).all()  # carried over the gap


def test_without_validation_sessions_the_default_is_used(tmp_path):
    c = choose_method(
        [], hmm_from_training([], EMOTIONS), EMOTIONS, tmp_path / "c.json", default="refine"
    )
    assert c["method"] == "refine" and c["validation_macro_f1"] is None
    assert "no validation sessions" in choice_markdown(c)


def dry_run(d: Path, config: dict) -> str:
    prepare("validation", d, config)  # two train, one validation, one test session
    r = snakemake(d, "-n", timeout=300)
    return r.stdout + r.stderr


def job_inputs(out: str, rule: str) -> str:
    """The input line of ``rule``'s job in a dry run's printout."""
    block = out.split(f"rule {rule}:", 1)[1].split("\n\n", 1)[0]
    return next(line for line in block.splitlines() if line.strip().startswith("input:"))


@pytest.mark.parametrize("pretrained", ["", "fer2013-mini-xception"])
def test_validation_sessions_choose_and_are_never_scored_as_test(tmp_path, pretrained):
    out = dry_run(tmp_path, {"cnn": {"pretrained": pretrained}})
    choose, evaluate = job_inputs(out, "choose_method"), job_inputs(out, "evaluate_study")
    assert "annotations/u3_A.csv" in choose and "u4_A" not in choose
    assert "annotations/u4_A.csv" in evaluate and "u3_A" not in evaluate
    predict = job_inputs(out, "predict")
    assert "chosen_method.json" in predict and "sequence/refine.onnx" in predict
    assert "sequence/lstm.onnx" in predict  # every candidate may be chosen (ONNX: no TensorFlow)
    assert ".keras" not in predict and ".keras" not in job_inputs(out, "predict_compared")
    # item 7: a pretrained CNN with no FER set of the user's: no demo FER set, no FER scores
    for rule in ("demo_fer_dataset", "evaluate_cnn"):
        assert (f"rule {rule}:" in out) == (not pretrained), rule


def test_sheet_accepts_validation_sessions_with_an_annotation(tmp_path):
    from test_sheet import SCHEMA, sheet

    from emotiontrack import UserInputError
    from emotiontrack.sheet import load_sessions

    v, a = tmp_path / "v.mp4", tmp_path / "a.csv"
    v.write_bytes(b"x")
    a.write_text("start_s,end_s,emotion\n0,1,happy\n")
    rows = [("p1", "A", str(v), "train", ""), ("p2", "A", str(v), "validation", str(a))]
    df = load_sessions(sheet(tmp_path, rows), SCHEMA)
    assert df.loc["p2_A", "split"] == "validation"
    rows[1] = ("p2", "A", str(v), "validation", "")
    with pytest.raises(UserInputError, match=r"row 3 \(p2/A\): a validation session needs an"):
        load_sessions(sheet(tmp_path, rows), SCHEMA)
