# EmotionTrack: facial emotion timelines from participant videos.
# Read the rule files below top to bottom: they are the pipeline, in the order data flows.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/code.smk"
include: "rules/excluded.smk"


# The embedded demo study's generator, only when the sheet or fer.path points at its files.
if USES_DEMO:

    include: "rules/demo.smk"


include: "rules/frames.smk"
include: "rules/augment.smk"
include: "rules/cnn.smk"
include: "rules/features.smk"
include: "rules/pseudolabels.smk"
include: "rules/sequence.smk"
include: "rules/predict.smk"
include: "rules/trends.smk"
include: "rules/evaluate.smk"
include: "rules/study.smk"
# Labelled clips: a branch of its own (clips.datasets), independent of the session sheet.
include: "rules/clips_data.smk"
include: "rules/clips_models.smk"


rule all:
    default_target: True
    input:
        all_targets(),


# At the end of a run: results/problems.tsv, and which sessions failed in which step and why.
onsuccess:
    report_problems(log, failed=False)


onerror:
    report_problems(log, failed=True)
