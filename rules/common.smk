# Config and session-sheet loading, validation, wildcard constraints and input functions.
# All the Python the rules need lives here; the stage files only declare rules.

import os
import re
import sys
from pathlib import Path

# The emotiontrack package sits beside the Snakefile: importable here without installing it.
# Scripts find it through the workflow_scripts/emotiontrack link (Snakemake puts a script's own
# folder on its path), so conda environments need no install of it either.
sys.path.insert(0, workflow.basedir)

from emotiontrack import UserInputError
from emotiontrack.sheet import load_sessions
from emotiontrack.codedeps import package_files
from emotiontrack.faces import finder_settings
from emotiontrack.sequence import SEQUENCE_MODELS


def code_of(script):
    """The record of the package modules that workflow_scripts/<script>.py runs (rules/code.smk):
    an input of its rule, so that editing a module reruns exactly the jobs using it. One input a
    job, not one a module: a large study's DAG (and dry run) has a job's inputs times its jobs.
    """
    return f"results/code/{script}.sha256"


def modules_of(wildcards):
    """The package's modules that workflow_scripts/<script>.py runs (its imports, followed through
    the package): the inputs of its code record."""
    return list(
        package_files(
            Path(workflow.basedir) / "workflow_scripts" / f"{wildcards.script}.py"
        )
    )


# the workflow scripts (the {script} of a code record)
SCRIPTS = sorted(
    p.stem for p in (Path(workflow.basedir) / "workflow_scripts").glob("*.py")
)


# Files the workflow generates itself (the embedded demo study) need not exist beforehand.
GENERATED = ("resources/demo/",)

# ---- Everything the user wrote is checked here, before the first job (emotiontrack.checks):
# config, sheet, emotion names, the CNN choice and its training classes, each video (read
# cheaply from its container) and each annotation's contents against its video's duration.
# One message names the file, the key or row, and the fix; suspicious things are warnings.
from emotiontrack import checks
from emotiontrack.problems import problem_rows, summary, write_problems

CONFIG_FILE = (
    ", ".join(map(str, workflow.overwrite_configfiles)) or "config/config.yaml"
)
PROBLEMS_TSV = "results/problems.tsv"
WARNINGS = []
EXCLUDED = {}  # session -> why it was left out (bad_videos: exclude)
# video path -> VideoInfo, or the message saying why it is not a usable video
VIDEOS = {}


# ---- labelled clips: the clip sets' checks (rules/clips_data.smk). A clip-only study
# (`sessions: ""`) has no session sheet: the per-session rules then have no jobs and `all` asks
# only for the clip targets. The per-frame CNN (and so the FER set and its checks) is needed by
# the sessions, and by the clip models' frame-CNN baseline when there are clip sets.


def empty_sheet():
    """The session sheet of a clip-only study: no rows, the sheet's columns."""
    import pandas as pd

    columns = ["participant", "condition", "video", "split", "annotation"]
    return pd.DataFrame(columns=columns, dtype=str).rename_axis("session")


def check_clip_datasets(datasets, clip_only):
    """Each clip set's folder exists (unless generated: resources/demo/clips/<format>, the demo
    set of its own format), and an afewva set's va_names file too; a clip-only study has sets.
    """
    where = f"{CONFIG_FILE}: key 'clips.datasets"
    if clip_only and not datasets:
        raise UserInputError(
            f"{CONFIG_FILE}: key 'sessions' is empty (a clip-only study) but "
            "'clips.datasets' names no clip set: nothing to do"
        )
    for name, d in datasets.items():
        path = os.path.normpath(d["path"])
        if path.startswith("resources/demo/clips"):
            if path != f"resources/demo/clips/{d['format']}":
                raise UserInputError(
                    f"{where}.{name}.path': {d['path']!r}: the generated demo sets are "
                    "resources/demo/clips/<format> (ckplus, cremad, afewva) of the set's format"
                )
        elif not Path(path).is_dir():
            raise UserInputError(
                f"{where}.{name}.path': clip set folder {d['path']!r} not found"
            )
        if (
            d["format"] == "afewva"
            and d["va_names"]
            and not Path(d["va_names"]).is_file()
        ):
            raise UserInputError(
                f"{where}.{name}.va_names': valence/arousal names file {d['va_names']!r} not found"
            )


def check_inputs():
    """Run every up-front check; fill VIDEOS, WARNINGS and EXCLUDED; return the sheet."""
    checks.check_config(
        config,
        Path(workflow.basedir) / "config/schemas/config.schema.yaml",
        CONFIG_FILE,
    )
    clip_only = not config["sessions"]
    check_clip_datasets(config["clips"]["datasets"], clip_only)
    uses_cnn = not clip_only or bool(config["clips"]["datasets"])
    fer_path, emotions = config["fer"]["path"], config["emotions"]
    image_classes = ()
    trains_cnn = not config["cnn"]["pretrained"] and uses_cnn
    generated_fer = fer_path.startswith(GENERATED)
    if uses_cnn and not generated_fer and not Path(fer_path).exists():
        raise UserInputError(
            f"{CONFIG_FILE}: key 'fer.path': FER training set {fer_path!r} not found"
        )
    counts = None
    if trains_cnn and not generated_fer:
        counts = checks.training_class_counts(fer_path, config["fer"]["format"])
        if Path(fer_path).is_dir():
            image_classes = [c for c, n in counts.items() if n]
    checks.check_emotions(emotions, CONFIG_FILE, extra=image_classes)
    checks.check_pretrained(config["cnn"]["pretrained"], emotions, CONFIG_FILE)
    if counts is not None:
        checks.check_training_images(emotions, counts, fer_path)
    if clip_only:
        return empty_sheet()
    sessions = load_sessions(
        config["sessions"],
        Path(workflow.basedir) / "config/schemas/sessions.schema.yaml",
        generated_prefixes=GENERATED,
    )
    real = [v for v in sessions["video"] if not v.startswith(GENERATED)]
    VIDEOS.update(checks.probe_videos(real, ".snakemake/emotiontrack/videos.json"))
    for s, row in sessions.iterrows():
        where = f"{config['sessions']}, session {s}"
        info = VIDEOS.get(row["video"])
        if isinstance(info, str):
            if config["bad_videos"] == "exclude":
                EXCLUDED[s] = info
            else:
                WARNINGS.append(
                    f"{info} (session {s} will fail; bad_videos: exclude skips it)"
                )
            info = None
        if info is not None:
            warning = checks.sampling_warning(info, config["frames"]["fps"], where)
            WARNINGS.extend([warning] if warning else [])
        if row["annotation"] and not row["annotation"].startswith(GENERATED):
            WARNINGS.extend(
                checks.check_annotation(row["annotation"], emotions, where, info)
            )
    return sessions


try:
    SESSIONS = check_inputs()
except UserInputError as e:
    sys.exit(f"EmotionTrack configuration error: {e}")
CLIP_DATASETS = config["clips"]["datasets"]
CLIP_ONLY = not config["sessions"]
if WARNINGS and workflow.is_main_process:
    shown = [f"EmotionTrack warning: {w}" for w in WARNINGS[:10]]
    if len(WARNINGS) > 10:
        shown.append(
            f"EmotionTrack: {len(WARNINGS) - 10} more warnings "
            f"(all in {PROBLEMS_TSV} after the run)"
        )
    print(*shown, sep="\n", file=sys.stderr)


def report_problems(log, failed):
    """At the end of a run: results/problems.tsv, and a summary of what failed or was left
    out on the console (Snakefile's onsuccess/onerror)."""
    rows = problem_rows(log if failed else None, SESSIONS.index, EXCLUDED, WARNINGS)
    text = summary(rows, PROBLEMS_TSV)
    if text:
        print(text, file=sys.stderr)
    try:
        write_problems(rows, PROBLEMS_TSV)
    except OSError as e:  # results/ on a full disk
        print(f"EmotionTrack: could not write {PROBLEMS_TSV}: {e}", file=sys.stderr)


def sampled_fps(sessions):
    """The rate the sessions' frames are really sampled at: frames.fps, or the slowest video's
    own rate when lower (every frame of it is taken)."""
    infos = [VIDEOS.get(SESSIONS.loc[s, "video"]) for s in sessions]
    infos = [i for i in infos if i is not None and not isinstance(i, str)]
    return checks.effective_fps(config["frames"]["fps"], infos)


# ---- end of the up-front checks

EMOTIONS = config["emotions"]
PRETRAINED = config["cnn"]["pretrained"]
# The FER set is only generated and scored when the CNN is trained on it, or when the user gave
# one of theirs to score a pretrained CNN on (the generated demo faces say nothing about it).
SCORE_CNN_ON_FER = not (PRETRAINED and config["fer"]["path"].startswith(GENERATED))
# The embedded demo study's rules (rules/demo.smk) are included only when something points at
# the files they generate: a session's video or annotation, or the FER set the CNN needs.
USES_DEMO = any(
    str(path).startswith(GENERATED)
    for path in [*SESSIONS["video"], *SESSIONS["annotation"]]
) or (SCORE_CNN_ON_FER and config["fer"]["path"].startswith(GENERATED))
# The per-frame CNN: trained on the FER set, or an existing model wrapped for the pipeline.
CNN_MODEL = (
    "results/models/cnn_pretrained.keras" if PRETRAINED else "results/models/cnn.keras"
)
CNN_HISTORY = (
    "results/models/cnn_pretrained.json"
    if PRETRAINED
    else "results/models/cnn_history.csv"
)
# The crop the CNN takes (margin, input size), recorded beside the model by the rule making it.
CNN_CROP = (
    "results/models/cnn_pretrained_crop.json"
    if PRETRAINED
    else "results/models/cnn_crop.json"
)
TRAINED_CROP_MARGIN = (
    config["fer"]["crop_margin"]
    if config["cnn"]["crop_margin"] is None
    else config["cnn"]["crop_margin"]
)
# How the report names the per-frame CNN.
CNN_DESCRIPTION = (
    f"the pretrained CNN `{PRETRAINED}` (not trained here)"
    if PRETRAINED
    else f"a `{config['cnn']['architecture']}` CNN trained on the FER set `{config['fer']['path']}`"
)
SEQUENCE_MODEL = config["sequence"]["model"]
COMPARED = list(dict.fromkeys([SEQUENCE_MODEL, *config["evaluation"]["compare"]]))
# Sessions left out (bad_videos: exclude) get only a flagged output, results/excluded/.
USED = SESSIONS[~SESSIONS.index.isin(list(EXCLUDED))]
ALL = list(USED.index)
TRAIN = list(USED.index[USED["split"] == "train"])
EVALUATED = list(USED.index[(USED["split"] == "test") & (USED["annotation"] != "")])
# Annotated sessions used only to choose the method that writes the predictions (never scored
# as test); the sheet loader requires their annotation.
VALIDATION = list(USED.index[USED["split"] == "validation"])
# Sequence models the predict jobs may need: every candidate when a choice is made on validation
# sessions, else only the default one.
PREDICT_MODELS = COMPARED if VALIDATION else [SEQUENCE_MODEL]
if not TRAIN and not CLIP_ONLY:
    sys.exit(
        "EmotionTrack configuration error: bad_videos: exclude left no training session "
        f"(excluded: {', '.join(EXCLUDED)}); fix or replace those videos"
    )


wildcard_constraints:
    participant="|".join(map(re.escape, sorted(set(SESSIONS["participant"])))),
    condition="|".join(map(re.escape, sorted(set(SESSIONS["condition"])))),
    model="|".join(SEQUENCE_MODELS),
    dataset="|".join(map(re.escape, CLIP_DATASETS)),
    format="ckplus|cremad|afewva",
    script="|".join(SCRIPTS),


def sequence_setting(key, model):
    """A params function: config sequence.<key> for the {model} training job that uses it, None
    for the others (a change to it then retrains only that model)."""

    def setting(wildcards):
        return config["sequence"][key] if wildcards.model == model else None

    return setting


def sequence_target_smoothing(wildcards):
    """The pseudo-label smoothing (seconds) of the {model} training targets: its own key for
    refine, target_smoothing_s for the others."""
    s = config["sequence"]
    return s[
        (
            "refine_target_smoothing_s"
            if wildcards.model == "refine"
            else "target_smoothing_s"
        )
    ]


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


# The HMM baseline's parameters, estimated once on the training sessions (rules/predict.smk).
HMM = "results/models/hmm.json"


def training_for_hmm(wildcards):
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
        "hmm": HMM,
    }


def predict_inputs(wildcards):
    return {
        "features": f"results/features/{wildcards.participant}_{wildcards.condition}.h5",
        "choice": "results/evaluation/chosen_method.json",
        "models": per_session("results/models/sequence/{session}.onnx", PREDICT_MODELS),
    }


def evaluation_inputs(wildcards):
    return {
        "choice": "results/evaluation/chosen_method.json",
        "template": str(Path(workflow.basedir) / "report/evaluation_summary.md.jinja"),
        "predictions": per_session("results/predictions/{session}.csv", EVALUATED),
        "features": per_session("results/features/{session}.h5", EVALUATED),
        "annotations": [SESSIONS.loc[s, "annotation"] for s in EVALUATED],
        "compared": [compared_predictions(m, s) for m in COMPARED for s in EVALUATED],
        "hmm": HMM,
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


def clip_setting(key):
    """A params function: clips.datasets.<dataset>.<key> of the {dataset} job."""

    def setting(wildcards):
        return CLIP_DATASETS[wildcards.dataset][key]

    return setting


def clip_root(dataset):
    """The folder of a clip set (a generated demo set's path as its rule's output names it)."""
    return os.path.normpath(CLIP_DATASETS[dataset]["path"])


def va_clusters_inputs(wildcards):
    d = CLIP_DATASETS[wildcards.dataset]
    return {
        "root": clip_root(wildcards.dataset),
        **({"names": d["va_names"]} if d["va_names"] else {}),
    }


def load_clips_inputs(wildcards):
    """The set's folder, and for afewva its valence/arousal clusters (its classes)."""
    d = CLIP_DATASETS[wildcards.dataset]
    clusters = f"results/clips/{wildcards.dataset}/va_clusters.json"
    return {
        "root": clip_root(wildcards.dataset),
        **({"va_clusters": clusters} if d["format"] == "afewva" else {}),
    }


# The frames stage's face-finder keys, which the clip loaders detect with (every kept frame).
CLIP_FINDER = {
    k: config["frames"][k]
    for k in (
        "detector",
        "detector_model",
        "detector_min_score",
        "detector_min_face",
        "detect_width",
        "min_neighbors",
    )
}


def clip_data_targets():
    """Each clip set's file, and for afewva sets the valence/arousal clusters and their plot."""
    out = []
    for name, d in CLIP_DATASETS.items():
        out.append(f"results/clips/{name}/clips.h5")
        if d["format"] == "afewva":
            out += [
                f"results/clips/{name}/va_clusters.json",
                f"results/clips/{name}/va_clusters.png",
            ]
    return out


def all_targets():
    """What `snakemake` with no target builds: the labelled-clips targets (clip_targets()), and,
    unless the study is clip-only, every session's trend chart and contact sheet, the CNN's
    evaluation on the FER set's test split (unless a pretrained CNN has no FER set of the user's
    to be scored on), the method choice, the study's evaluation report and its condition
    comparison."""
    if CLIP_ONLY:
        return clip_targets()
    return [
        *clip_targets(),
        *per_session("results/excluded/{session}.txt", EXCLUDED),
        *per_session("results/trends/{session}.png", ALL),
        *per_session("results/frames/{session}_contact.png", ALL),
        *(["results/cnn/test_metrics.json"] if SCORE_CNN_ON_FER else []),
        "results/evaluation/chosen_method.json",
        f"results/models/sequence/{SEQUENCE_MODEL}_curves.png",
        "results/evaluation/summary.md",
        "results/study/conditions.md",
    ]


def excluded_reason(wildcards):
    """Why a session was left out (bad_videos: exclude)."""
    return EXCLUDED.get(f"{wildcards.participant}_{wildcards.condition}", "")


# ---- labelled clips
# The clip models (rules/clips_models.smk): clips.datasets.<name>.models, trained on the set's
# train split, then each model and the baselines scored on its test split.
from emotiontrack.clips.models import BASELINES, CLIP_MODELS, LANDMARK_MODELS


def check_clip_models():
    """A landmark model (as a classifier or as va_model) needs landmarks: true."""
    for name, d in CLIP_DATASETS.items():
        wanted = [*d["models"], *([d["va_model"]] if has_valence_arousal(name) else [])]
        for m in wanted:
            if m in LANDMARK_MODELS and not d["landmarks"]:
                raise UserInputError(
                    f"{CONFIG_FILE}: key 'clips.datasets.{name}': model {m!r} reads the face "
                    "mesh per frame: set landmarks: true for this dataset, or drop the model"
                )


def has_valence_arousal(dataset):
    """Sets with valence/arousal per frame (afewva): their regression model is evaluated too."""
    return CLIP_DATASETS[dataset]["format"] == "afewva"


try:
    check_clip_models()
except UserInputError as e:
    sys.exit(f"EmotionTrack configuration error: {e}")


wildcard_constraints:
    clip_model="|".join(map(re.escape, CLIP_MODELS)),
    baseline="|".join(map(re.escape, BASELINES)),
    method="|".join(map(re.escape, [*CLIP_MODELS, *BASELINES])),


def clip_va_model(wildcards):
    """The clip model whose trunk regresses the {dataset}'s valence and arousal."""
    return CLIP_DATASETS[wildcards.dataset]["va_model"]


def clip_baseline_inputs(wildcards):
    """The clip set, and for the frame-CNN baseline the per-frame CNN and its crop."""
    extra = {}
    if wildcards.baseline == "frame-cnn":
        extra = {"cnn": "results/models/cnn.onnx", "crop": CNN_CROP}
    return {"clips": f"results/clips/{wildcards.dataset}/clips.h5", **extra}


def clip_methods(dataset):
    """The {dataset}'s clip models, then the baselines: the rows of its comparison."""
    return [*CLIP_DATASETS[dataset]["models"], *BASELINES]


def clip_comparison_inputs(wildcards):
    d = wildcards.dataset
    va = f"results/clips/{d}/eval/valence_arousal.json"
    return {
        "evals": [f"results/clips/{d}/eval/{m}.json" for m in clip_methods(d)],
        "template": str(Path(workflow.basedir) / "report/clips_comparison.md.jinja"),
        **({"va": va} if has_valence_arousal(d) else {}),
    }


def clip_model_targets():
    """Per clip set: each method's predictions, scores, confusion matrix and per-class report,
    the comparison table, and for sets with valence/arousal their RMSE and CCC."""
    out = []
    for d in CLIP_DATASETS:
        for m in clip_methods(d):
            out += [
                f"results/clips/{d}/predictions/{m}.tsv",
                f"results/clips/{d}/eval/{m}.json",
                f"results/clips/{d}/eval/{m}_confusion.png",
                f"results/clips/{d}/eval/{m}_per_class.tsv",
            ]
        out += [f"results/clips/{d}/comparison.md", f"results/clips/{d}/comparison.tsv"]
        if has_valence_arousal(d):
            out.append(f"results/clips/{d}/eval/valence_arousal.json")
    return out


def clip_targets():
    """Every labelled-clips target of clips.datasets (rules/clips_*.smk)."""
    return [*clip_data_targets(), *clip_model_targets()]
