"""Study-level answers (emotiontrack.study): per-session measures, condition tests, tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS

from emotiontrack.study import (
    CONDITION_COLUMNS,
    SUMMARY_COLUMNS,
    compare_conditions,
    condition_table,
    read_table,
    read_timeline,
    session_measures,
    session_transitions,
    summarise_sessions,
)

HAPPY, SAD, ANGRY = EMOTIONS.index("happy"), EMOTIONS.index("sad"), EMOTIONS.index("angry")


def timeline(labels: list[int], fps: float = 5.0, face: list[bool] | None = None) -> dict:
    """A timeline with the given per-frame labels (-1: no prediction); the label's probability
    is 0.7, the others share the rest."""
    lab = np.asarray(labels)
    probs = np.full((len(lab), len(EMOTIONS)), 0.05)
    probs[np.arange(len(lab)), np.maximum(lab, 0)] = 0.7
    probs[lab < 0] = np.nan
    return {
        "time_s": np.arange(len(lab)) / fps,
        "face_found": np.asarray(face if face is not None else lab >= 0, bool),
        "probabilities": probs,
        "label": lab,
        "fps": fps,
    }


def test_session_measures_of_a_known_timeline():
    # 2 s happy, 0.4 s sad (shorter than an episode), 3.6 s happy, 2 s angry, 2 s no prediction
    labels = [HAPPY] * 10 + [SAD] * 2 + [HAPPY] * 18 + [ANGRY] * 10 + [-1] * 10
    tl = timeline(labels)
    m = {r["emotion"]: r for r in session_measures(tl, EMOTIONS, min_episode_s=1.0)}
    h, s, a = m["happy"], m["sad"], m["angry"]
    assert h["n_frames"] == 50 and h["seconds_analysed"] == pytest.approx(8.0)
    assert h["face_coverage"] == pytest.approx(0.8)
    assert h["dominance"] == pytest.approx(28 / 40) and s["dominance"] == pytest.approx(2 / 40)
    assert h["mean_probability"] == pytest.approx((28 * 0.7 + 12 * 0.05) / 40)
    assert h["episodes"] == 2 and h["episode_mean_s"] == pytest.approx((2.0 + 3.6) / 2)
    assert h["onset_latency_s"] == 0.0 and a["onset_latency_s"] == pytest.approx(6.0)
    assert s["episodes"] == 0 and np.isnan(s["episode_mean_s"]) and np.isnan(s["onset_latency_s"])
    assert h["peak_time_s"] < 6.0 and h["peak_probability"] > 0.65
    assert 6.0 <= a["peak_time_s"] < 8.0
    # the sad blip is no episode: happy -> happy is no transition, happy -> angry is one
    t = session_transitions(tl, EMOTIONS, min_episode_s=1.0)
    assert t[("happy", "angry")] == 1 and sum(t.values()) == 1
    assert session_transitions(tl, EMOTIONS, min_episode_s=0.4)[("happy", "sad")] == 1


def test_read_timeline_uses_the_workflows_label(tmp_path):
    """The default timeline's label column is the workflow's decision, even where it is not the
    argmax of the probability columns (another method may write it)."""
    probs = np.tile([0.1, 0.0, 0.0, 0.5, 0.4, 0.0, 0.0], (6, 1))
    df = pd.DataFrame(probs, columns=EMOTIONS)
    df.insert(0, "face_found", [0, 1, 1, 1, 0, 1])
    df.insert(0, "frame_index", np.arange(6) * 6)
    df.insert(0, "time_s", np.arange(6) / 5)
    df.loc[0, EMOTIONS] = np.nan  # before the first face: no prediction
    df["label"] = ["", "sad", "sad", "happy", "happy", "happy"]
    df["cnn_label"], df["cnn_confidence"] = "happy", 0.5
    df.to_csv(tmp_path / "p.csv", index=False)
    tl = read_timeline({"predictions": tmp_path / "p.csv"}, EMOTIONS, "predictions")
    assert list(tl["label"]) == [-1, SAD, SAD, HAPPY, HAPPY, HAPPY]
    assert tl["fps"] == pytest.approx(5.0) and tl["face_found"].sum() == 4
    df["label"] = ["", "calm", "sad", "happy", "happy", "happy"]
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(AssertionError, match="bad.csv.*'calm'"):  # our own file: a bug
        read_timeline({"predictions": tmp_path / "bad.csv"}, EMOTIONS, "predictions")


def synthetic_summary(participants, conditions, value, seed=0) -> pd.DataFrame:
    """A session summary: ``value(participant index, condition, emotion, rng)`` for every
    measure."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, p in enumerate(participants):
        for c in conditions:
            for e in EMOTIONS:
                v = value(i, c, e, rng)
                rows.append(
                    {c_: np.nan for c_ in SUMMARY_COLUMNS}
                    | {"session": f"{p}_{c}", "participant": p, "condition": c}
                    | {"split": "predict-only", "timeline": "predictions", "emotion": e}
                    | {"mean_probability": v, "dominance": v, "episodes": round(10 * v)}
                )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def happier_in_a(i, c, e, rng):
    """Participant i's level plus noise; happy 0.3 higher in condA for everyone."""
    return 0.2 + 0.02 * i + rng.normal(0, 0.03) + (0.3 if (e, c) == ("happy", "condA") else 0)


def test_paired_design_finds_the_difference_and_only_it():
    people = [f"p{i}" for i in range(10)]
    s = synthetic_summary(people, ["condA", "condB"], happier_in_a)
    t = condition_table(s, EMOTIONS, ["condA", "condB"], n_bootstrap=500, seed=1)
    assert list(t.columns) == CONDITION_COLUMNS
    filled = t["measure"].isin(["mean_probability", "dominance", "episodes"])
    assert len(t) == 6 * len(EMOTIONS) and (t.loc[filled, "design"] == "within").all()
    assert t.loc[~filled, "note"].str.contains("n too small to test: 0 participant").all()
    top = t[t["measure"] == "dominance"].iloc[0]
    assert top["emotion"] == "happy" and top["difference"] == pytest.approx(-0.3, abs=0.05)
    assert top["difference_ci_low"] < -0.3 < top["difference_ci_high"] < 0
    assert top["effect_size"] < -2 and top["effect_ci_high"] < 0
    assert top["n_paired"] == 10 and top["p"] == pytest.approx(2 / 2**10)
    assert top["p_t"] < 1e-6 and top["significant"]
    sig = t[t["significant"]]
    assert set(sig["emotion"]) == {"happy"}
    # BH: q >= p, and the same family (every emotion x measure of the pair) for both tests
    tested = t.dropna(subset=["p"])
    assert (tested["q"] >= tested["p"] - 1e-12).all() and len(tested) == 6 * len(EMOTIONS) - 7 * 3


def test_between_design_and_too_small_n():
    a = synthetic_summary([f"a{i}" for i in range(6)], ["condA"], happier_in_a)
    b = synthetic_summary([f"b{i}" for i in range(6)], ["condB"], happier_in_a)
    t = condition_table(pd.concat([a, b]), EMOTIONS, ["condA", "condB"], n_bootstrap=300)
    happy = t[(t["measure"] == "mean_probability") & (t["emotion"] == "happy")].iloc[0]
    assert happy["design"] == "between" and happy["test"] == "Mann-Whitney U"
    assert happy["effect_size_type"] == "Hedges' g" and happy["difference"] < -0.2
    assert happy["p"] == pytest.approx(2 / 924)  # exact: the groups do not overlap
    small = synthetic_summary(["p0", "p1", "p2"], ["condA", "condB"], happier_in_a)
    t = condition_table(small, EMOTIONS, ["condA", "condB"], min_participants=5)
    assert (t["design"] == "none").all() and t["p"].isna().all() and not t["significant"].any()
    filled = t["measure"].isin(["mean_probability", "dominance", "episodes"])
    assert t.loc[filled, "note"].str.contains("n too small to test: 3 participant").all()


def test_baseline_correction_and_the_written_tables(tmp_path):
    """Sessions written as predictions CSVs, summarised with a baseline condition, compared:
    the baseline is subtracted per participant and not compared itself."""
    sessions = []
    rng = np.random.default_rng(3)
    for i in range(6):
        for c in ("rest", "condA", "condB"):
            happy_s = {"rest": 2 + i % 3, "condA": 8 + i % 3, "condB": 3 + i % 3}[c]
            labels = [HAPPY] * (5 * happy_s) + [SAD] * (5 * (12 - happy_s))
            tl = timeline(labels)
            df = pd.DataFrame(tl["probabilities"] + rng.uniform(0, 0.01, (60, 7)), columns=EMOTIONS)
            df.insert(0, "face_found", 1)
            df.insert(0, "frame_index", np.arange(60) * 6)
            df.insert(0, "time_s", tl["time_s"])
            df["label"] = [EMOTIONS[k] for k in labels]
            df["cnn_label"], df["cnn_confidence"] = df["label"], 0.7
            path = tmp_path / f"u{i}_{c}.csv"
            df.to_csv(path, index=False)
            sessions.append(
                {"session": f"u{i}_{c}", "participant": f"u{i}", "condition": c}
                | {"split": "predict-only", "predictions": str(path)}
            )
    out = {k: tmp_path / f"study/{k}.csv" for k in ("summary", "transitions", "curves")}
    summarise_sessions(
        sessions, EMOTIONS, out["summary"], out["transitions"], out["curves"],
        baseline_condition="rest",
    )  # fmt: skip
    s = read_table(out["summary"], SUMMARY_COLUMNS)
    assert len(s) == 18 * len(EMOTIONS)
    h = s[(s["emotion"] == "happy")].set_index("session")
    assert h.loc["u0_condA", "dominance"] == pytest.approx(8 / 12)
    assert h.loc["u0_condA", "dominance_vs_baseline"] == pytest.approx(6 / 12)
    assert h.loc["u4_rest", "dominance_vs_baseline"] == 0
    tr = pd.read_csv(out["transitions"])
    one = tr[(tr["session"] == "u0_condA") & (tr["count"] > 0)]
    assert one[["from_emotion", "to_emotion", "count"]].values.tolist() == [["happy", "sad", 1]]
    assert one["per_minute"].iloc[0] == pytest.approx(5.0)
    curves = pd.read_csv(out["curves"])
    assert set(curves["time_s"]) == set(range(12))

    files = {k: tmp_path / f"study/{k}" for k in ("c.csv", "c.md", "p.png", "h.png", "k.png")}
    t = compare_conditions(
        out["summary"], out["curves"], EMOTIONS, ["rest", "condA", "condB"], *files.values(),
        baseline_condition="rest", min_participants=5, n_bootstrap=200,
    )  # fmt: skip
    assert set(t["comparison"]) == {"condA vs condB"}
    assert t["measure"].iloc[0] == "mean_probability_vs_baseline"
    dom = t[t["measure"] == "dominance_vs_baseline"].iloc[0]
    assert dom["emotion"] in ("happy", "sad") and abs(dom["difference"]) == pytest.approx(5 / 12)
    md = files["c.md"].read_text()
    assert "### condA vs condB (difference = condB - condA)" in md and "18 sessions" in md
    assert all(f.stat().st_size > 5000 for f in files.values() if f.suffix == ".png")
    assert pd.read_csv(files["c.csv"]).shape == t.shape


# --------------------------------------------------------------------------------------------
# end to end: the demo's design recovered from the workflow's own predictions
# --------------------------------------------------------------------------------------------

RECOVERY = [f"user{i:02d}" for i in range(21, 31)]  # 10 participants, both conditions
RECOVERY_S, RECOVERY_FPS = 24, 5  # shorter, 5 fps videos: every frame is a sampled frame


def _demo_video(args):
    from emotiontrack.demo import make_session_video

    d, p, c, seed = args
    make_session_video(
        d / f"data/{p}_{c}.mp4", d / f"data/{p}_{c}.csv", p, c,
        seed=seed, duration_s=RECOVERY_S, fps=RECOVERY_FPS,
    )  # fmt: skip


def generated_shares(d, sessions, times) -> pd.DataFrame:
    """Share of the sampled frames each emotion is the generated (annotated) one, per session."""
    from emotiontrack.annotations import load_annotation, truth_at

    rows = []
    for s in sessions:
        truth = truth_at(load_annotation(d / f"data/{s}.csv", EMOTIONS), times[s])
        rows.append({"session": s} | {e: float(np.mean(truth == e)) for e in EMOTIONS})
    return pd.DataFrame(rows).set_index("session")


@pytest.mark.e2e
def test_demo_design_is_recovered_from_the_workflows_predictions(study, tmp_path, capsys):
    """The demo's conditions differ by construction (emotiontrack.demo.DEFAULT_MIXES: happy 0.37
    of condA's segments, 0.03 of condB's). Ten new participants recorded in both conditions are
    predicted by the tiny study's trained models, and the study analysis of those predictions
    (not of the annotations) puts the largest generated difference on top, in its direction,
    significant after Benjamini-Hochberg at q = 0.05."""
    import shutil
    from concurrent.futures import ProcessPoolExecutor

    import yaml
    from studies import config, sessions, snakemake

    SESSIONS, TINY = sessions("tiny"), config("tiny")

    d = tmp_path / "recovery"
    # the tiny study as run (trained CNN and sequence model): only the new sessions run here
    shutil.copytree(study, d, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    (d / "data").mkdir()
    new = [f"{p}_{c}" for p in RECOVERY for c in ("condA", "condB")]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_demo_video, [(d, *s.split("_"), TINY["seed"]) for s in new]))
    # the training sessions as before (their models are reused), the new ones, no test sessions
    demo = "resources/demo/{}/{}_{}.{}"
    rows = [
        f"{p}\t{c}\t{demo.format('videos', p, c, 'mp4')}\ttrain\t"
        f"{demo.format('annotations', p, c, 'csv')}"
        for p, c, split in SESSIONS
        if split == "train"
    ]
    rows += [
        f"{p}\t{c}\tdata/{p}_{c}.mp4\tpredict-only\tdata/{p}_{c}.csv"
        for p in RECOVERY
        for c in ("condA", "condB")
    ]
    (d / "config/sessions.tsv").write_text(
        "participant\tcondition\tvideo\tsplit\tannotation\n" + "\n".join(rows) + "\n"
    )
    cfg = dict(TINY, study={"sessions": new, "bootstrap": 500})
    (d / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(d, "results/study/conditions.md")
    assert "train_cnn" not in r.stdout + r.stderr and "train_sequence" not in r.stdout + r.stderr

    summary = pd.read_csv(d / "results/study/session_summary.csv")
    assert sorted(summary["session"].unique()) == sorted(new)  # study.sessions, not the sheet
    assert (summary["timeline"] == "predictions").all()
    table = pd.read_csv(d / "results/study/conditions.csv")
    level = table[table["measure"].isin(["mean_probability", "dominance"])]
    assert (level["design"] == "within").all() and (level["n_paired"] == 10).all()

    times = {s: pd.read_csv(d / f"results/predictions/{s}.csv")["time_s"].to_numpy() for s in new}
    truth = generated_shares(d, new, times)
    a = truth.loc[[f"{p}_condA" for p in RECOVERY]].to_numpy()
    b = truth.loc[[f"{p}_condB" for p in RECOVERY]].to_numpy()
    generated = pd.Series((b - a).mean(axis=0), index=EMOTIONS)
    biggest = generated.abs().idxmax()
    assert biggest == "happy" and generated["happy"] < 0  # the design, as generated

    dominance = table[table["measure"] == "dominance"]
    top = dominance.iloc[0]
    assert top["emotion"] == biggest, dominance.head(3).to_string()
    assert np.sign(top["difference"]) == np.sign(generated[biggest])
    assert top["q"] < 0.05 and bool(top["significant"])
    md = (d / "results/study/conditions.md").read_text()
    assert "Timeline: **predictions**" in md and f"20 sessions of {len(RECOVERY)}" in md
    with capsys.disabled():
        print(
            f"\nrecovered: {biggest} share dominant, condB - condA "
            f"{top['difference']:+.3f} [{top['difference_ci_low']:+.3f}, "
            f"{top['difference_ci_high']:+.3f}], p {top['p']:.2g}, q {top['q']:.2g}; "
            f"generated {generated[biggest]:+.3f}; all generated: {generated.round(3).to_dict()}"
        )


@pytest.mark.parametrize(
    "study_cfg, message",
    [
        ({"sessions": ["user09_condA"]}, "study.sessions names ['user09_condA'], not sessions"),
        ({"baseline_condition": "rest"}, "study.baseline_condition 'rest' is not a condition"),
        ({"timeline": "hmm"}, "'hmm' is not one of ['predictions', 'cnn']"),
    ],
)
def test_bad_study_config_stops_before_any_job(tmp_path, study_cfg, message):
    from studies import prepare, snakemake

    prepare("tiny", tmp_path, {"study": study_cfg})
    r = snakemake(tmp_path, "-n", check=False)
    assert r.returncode != 0 and message in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
