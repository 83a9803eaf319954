# Labelled clips, data: the offline demo clip sets, AFEW-VA's valence/arousal clusters (its
# classes), and each set of clips.datasets read, its faces cropped, resampled and split by subject
# into one clip-set file that the clip models train and are evaluated on.


rule demo_clips:
    input:
        code=code_of("demo_clips"),
    output:
        root=directory("resources/demo/clips/{format}"),
    log:
        "logs/demo_clips/{format}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        subjects=config["clips"]["demo"]["subjects"],
        clips_per_class=config["clips"]["demo"]["clips_per_class"],
        frames=config["clips"]["demo"]["frames"],
        seed=config["seed"],
    script:
        "../workflow_scripts/demo_clips.py"


rule va_clusters:
    input:
        unpack(va_clusters_inputs),
        code=code_of("va_clusters"),
    output:
        json="results/clips/{dataset}/va_clusters.json",
        png=report(
            "results/clips/{dataset}/va_clusters.png",
            caption="../report/va_clusters.rst",
            category="Labelled clips",
            labels={"dataset": "{dataset}", "figure": "valence/arousal clusters"},
        ),
    log:
        "logs/va_clusters/{dataset}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        k=clip_setting("va_clusters"),
        seed=config["seed"],
    script:
        "../workflow_scripts/va_clusters.py"


rule load_clips:
    input:
        unpack(load_clips_inputs),
        code=code_of("load_clips"),
    output:
        h5="results/clips/{dataset}/clips.h5",
    log:
        "logs/load_clips/{dataset}.log",
    benchmark:
        "benchmarks/load_clips/{dataset}.tsv"
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        format=clip_setting("format"),
        length=clip_setting("length"),
        detect=clip_setting("detect"),
        landmarks=clip_setting("landmarks"),
        classes=clip_setting("classes"),
        test_fraction=clip_setting("test_fraction"),
        validation_fraction=clip_setting("validation_fraction"),
        seed=config["seed"],
        finder=CLIP_FINDER,
    script:
        "../workflow_scripts/load_clips.py"
