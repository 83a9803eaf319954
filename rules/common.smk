# Config and session-sheet loading, validation, wildcard constraints and input functions.
# All the Python the rules need lives here; the stage files only declare rules.

import re
import sys
from pathlib import Path

from snakemake.utils import validate

# The emotiontrack package sits beside the Snakefile: importable here without installing it.
# Scripts find it through the workflow_scripts/emotiontrack link (Snakemake puts a script's own
# folder on its path), so conda environments need no install of it either.
sys.path.insert(0, workflow.basedir)

from emotiontrack import UserInputError
from emotiontrack.sheet import load_sessions

# Files the workflow generates itself (the embedded demo study) need not exist beforehand.
GENERATED = ("resources/demo/",)

validate(config, "../config/schemas/config.schema.yaml")

try:
    SESSIONS = load_sessions(
        config["sessions"],
        Path(workflow.basedir) / "config/schemas/sessions.schema.yaml",
        generated_prefixes=GENERATED,
    )
    if (
        not config["fer"]["path"].startswith(GENERATED)
        and not Path(config["fer"]["path"]).exists()
    ):
        raise UserInputError(
            f"{config['fer']['path']}: FER training set not found (config key fer.path)"
        )
except UserInputError as e:
    sys.exit(f"EmotionTrack configuration error: {e}")

EMOTIONS = config["emotions"]
PRETRAINED = config["cnn"]["pretrained"]
# The per-frame CNN: trained on the FER set, or an existing model wrapped for the pipeline.
CNN_MODEL = (
    "results/models/cnn_pretrained.keras" if PRETRAINED else "results/models/cnn.keras"
)
CNN_HISTORY = (
    "results/models/cnn_pretrained.json"
    if PRETRAINED
    else "results/models/cnn_history.csv"
)
SEQUENCE_MODEL = config["sequence"]["model"]
COMPARED = list(dict.fromkeys([SEQUENCE_MODEL, *config["evaluation"]["compare"]]))
ALL = list(SESSIONS.index)
TRAIN = list(SESSIONS.index[SESSIONS["split"] == "train"])
EVALUATED = list(
    SESSIONS.index[(SESSIONS["split"] == "test") & (SESSIONS["annotation"] != "")]
)


wildcard_constraints:
    participant="|".join(map(re.escape, sorted(set(SESSIONS["participant"])))),
    condition="|".join(map(re.escape, sorted(set(SESSIONS["condition"])))),
    model="lstm|bilstm|attention|autoencoder",


def pretrained_inputs(wildcards):
    """The model file when cnn.pretrained names a path (a built-in name needs no input)."""
    if PRETRAINED.endswith((".keras", ".h5", ".hdf5")):
        return {"model": PRETRAINED}
    return {}


def session_of(wildcards):
    """The sheet row of the session named by the wildcards."""
    return SESSIONS.loc[f"{wildcards.participant}_{wildcards.condition}"]


def video_of(wildcards):
    return session_of(wildcards)["video"]


def per_session(pattern, sessions):
    """``pattern`` with {session} filled in for each session id."""
    return [pattern.format(session=s) for s in sessions]


def sequence_training_inputs(wildcards):
    return {
        "features": per_session("results/features/{session}.h5", TRAIN),
        "augmented": per_session("results/features/augmented/{session}.h5", TRAIN),
        "pseudolabels": per_session("results/pseudolabels/{session}.npy", TRAIN),
    }


def compared_predictions(model, session):
    """A held-out session's timeline from a compared sequence model (the chosen model's is the
    session's regular prediction file)."""
    if model == SEQUENCE_MODEL:
        return f"results/predictions/{session}.csv"
    return f"results/evaluation/predictions/{model}/{session}.csv"


def evaluation_inputs(wildcards):
    return {
        "predictions": per_session("results/predictions/{session}.csv", EVALUATED),
        "features": per_session("results/features/{session}.h5", EVALUATED),
        "annotations": [SESSIONS.loc[s, "annotation"] for s in EVALUATED],
        "compared": [compared_predictions(m, s) for m in COMPARED for s in EVALUATED],
        "train_features": per_session("results/features/{session}.h5", TRAIN),
        "train_annotations": [a for a in SESSIONS.loc[TRAIN, "annotation"] if a],
        "train_pseudolabels": per_session("results/pseudolabels/{session}.npy", TRAIN),
    }


# What the evaluation script is told about each session (the files are also inputs above).
EVALUATION_SESSIONS = [
    {
        "session": s,
        "participant": SESSIONS.loc[s, "participant"],
        "condition": SESSIONS.loc[s, "condition"],
        "predictions": f"results/predictions/{s}.csv",
        "features": f"results/features/{s}.h5",
        "annotation": SESSIONS.loc[s, "annotation"],
        "sequence_predictions": {m: compared_predictions(m, s) for m in COMPARED},
    }
    for s in EVALUATED
]
TRAINING_SESSIONS = [
    {
        "session": s,
        "features": f"results/features/{s}.h5",
        "annotation": SESSIONS.loc[s, "annotation"],
        "pseudolabels": f"results/pseudolabels/{s}.npy",
    }
    for s in TRAIN
]


# The study-level analysis (rules/study.smk): which sessions, read from which timeline.
STUDY = config["study"]
try:
    _unknown = sorted(set(STUDY["sessions"]) - set(ALL))
    if _unknown:
        raise UserInputError(
            f"{config['sessions']}: study.sessions names {_unknown}, not sessions of the sheet "
            "(participant_condition ids, e.g. user01_condA)"
        )
    if STUDY["baseline_condition"] and STUDY["baseline_condition"] not in set(
        SESSIONS["condition"]
    ):
        raise UserInputError(
            f"{config['sessions']}: study.baseline_condition "
            f"{STUDY['baseline_condition']!r} is not a condition of the sheet"
        )
except UserInputError as e:
    sys.exit(f"EmotionTrack configuration error: {e}")
STUDY_SELECTED = (
    [s for s in ALL if s in STUDY["sessions"]] if STUDY["sessions"] else ALL
)
# study.timeline -> the file each session's timeline is read from, and what the script calls it
STUDY_KEY, STUDY_FILE = {
    "predictions": ("predictions", "results/predictions/{session}.csv"),
    "cnn": ("features", "results/features/{session}.h5"),
}[STUDY["timeline"]]
STUDY_SESSIONS = [
    {
        "session": s,
        "participant": SESSIONS.loc[s, "participant"],
        "condition": SESSIONS.loc[s, "condition"],
        "split": SESSIONS.loc[s, "split"],
        STUDY_KEY: STUDY_FILE.format(session=s),
    }
    for s in STUDY_SELECTED
]
# Conditions in the order they first appear in the sheet.
STUDY_CONDITIONS = list(dict.fromkeys(SESSIONS.loc[STUDY_SELECTED, "condition"]))


def study_inputs(wildcards):
    """The timeline files of the sessions the study analysis reads."""
    return {"timelines": per_session(STUDY_FILE, STUDY_SELECTED)}


def all_targets():
    """What `snakemake` with no target builds: every session's trend chart and contact sheet,
    the CNN's test-split evaluation, the study's evaluation report and its condition comparison.
    """
    return [
        *per_session("results/trends/{session}.png", ALL),
        *per_session("results/frames/{session}_contact.png", ALL),
        "results/cnn/test_metrics.json",
        f"results/models/sequence/{SEQUENCE_MODEL}_curves.png",
        "results/evaluation/summary.md",
        "results/study/conditions.md",
    ]
