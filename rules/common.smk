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
# The FER set is only generated and scored when the CNN is trained on it, or when the user gave
# one of theirs to score a pretrained CNN on (the generated demo faces say nothing about it).
SCORE_CNN_ON_FER = not (PRETRAINED and config["fer"]["path"].startswith(GENERATED))
# The per-frame CNN: trained on the FER set, or an existing model wrapped for the pipeline.
CNN_MODEL = (
    "results/models/cnn_pretrained.keras" if PRETRAINED else "results/models/cnn.keras"
)
CNN_HISTORY = (
    "results/models/cnn_pretrained.json"
    if PRETRAINED
    else "results/models/cnn_history.csv"
)
# How the report names the per-frame CNN.
CNN_DESCRIPTION = (
    f"the pretrained CNN `{PRETRAINED}` (not trained here)"
    if PRETRAINED
    else f"a `{config['cnn']['architecture']}` CNN trained on the FER set `{config['fer']['path']}`"
)
SEQUENCE_MODEL = config["sequence"]["model"]
COMPARED = list(dict.fromkeys([SEQUENCE_MODEL, *config["evaluation"]["compare"]]))
ALL = list(SESSIONS.index)
TRAIN = list(SESSIONS.index[SESSIONS["split"] == "train"])
EVALUATED = list(
    SESSIONS.index[(SESSIONS["split"] == "test") & (SESSIONS["annotation"] != "")]
)
# Annotated sessions used only to choose the method that writes the predictions (never scored
# as test); the sheet loader requires their annotation.
VALIDATION = list(SESSIONS.index[SESSIONS["split"] == "validation"])
# Sequence models the predict jobs may need: every candidate when a choice is made on validation
# sessions, else only the default one.
PREDICT_MODELS = COMPARED if VALIDATION else [SEQUENCE_MODEL]


wildcard_constraints:
    participant="|".join(map(re.escape, sorted(set(SESSIONS["participant"])))),
    condition="|".join(map(re.escape, sorted(set(SESSIONS["condition"])))),
    model="refine|lstm|bilstm|attention|autoencoder",


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
    """A validation or test session's timeline from one compared sequence model (the session's
    regular prediction file is the chosen method's)."""
    return f"results/evaluation/predictions/{model}/{session}.csv"


def training_for_hmm():
    """The training sessions' files the HMM transitions are estimated from."""
    return {
        "train_features": per_session("results/features/{session}.h5", TRAIN),
        "train_annotations": [a for a in SESSIONS.loc[TRAIN, "annotation"] if a],
        "train_pseudolabels": per_session("results/pseudolabels/{session}.npy", TRAIN),
    }


def choice_inputs(wildcards):
    return {
        "features": per_session("results/features/{session}.h5", VALIDATION),
        "annotations": [SESSIONS.loc[s, "annotation"] for s in VALIDATION],
        "compared": [compared_predictions(m, s) for m in COMPARED for s in VALIDATION],
        **training_for_hmm(),
    }


def predict_inputs(wildcards):
    return {
        "features": f"results/features/{wildcards.participant}_{wildcards.condition}.h5",
        "choice": "results/evaluation/chosen_method.json",
        "models": per_session("results/models/sequence/{session}.keras", PREDICT_MODELS),
    }


def evaluation_inputs(wildcards):
    return {
        "choice": "results/evaluation/chosen_method.json",
        "predictions": per_session("results/predictions/{session}.csv", EVALUATED),
        "features": per_session("results/features/{session}.h5", EVALUATED),
        "annotations": [SESSIONS.loc[s, "annotation"] for s in EVALUATED],
        "compared": [compared_predictions(m, s) for m in COMPARED for s in EVALUATED],
        **training_for_hmm(),
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
VALIDATION_SESSIONS = [
    {
        "session": s,
        "features": f"results/features/{s}.h5",
        "annotation": SESSIONS.loc[s, "annotation"],
        "sequence_predictions": {m: compared_predictions(m, s) for m in COMPARED},
    }
    for s in VALIDATION
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


def all_targets():
    """What `snakemake` with no target builds: every session's trend chart and contact sheet,
    the CNN's evaluation on the FER set's test split (unless a pretrained CNN has no FER set of
    the user's to be scored on), the method choice and the study's evaluation report."""
    return [
        *per_session("results/trends/{session}.png", ALL),
        *per_session("results/frames/{session}_contact.png", ALL),
        *(["results/cnn/test_metrics.json"] if SCORE_CNN_ON_FER else []),
        "results/evaluation/chosen_method.json",
        f"results/models/sequence/{SEQUENCE_MODEL}_curves.png",
        "results/evaluation/summary.md",
    ]
