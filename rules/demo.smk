# The embedded demo study, generated deterministically into resources/demo/ (never data/).
# Included (Snakefile) only when the sheet or fer.path points at resources/demo/ (USES_DEMO).


rule demo_fer_dataset:
    input:
        code=code_of("demo_fer_dataset"),
    output:
        csv="resources/demo/fer2013.csv",
    log:
        "logs/demo_fer_dataset.log",
    # first: the CNN's training, the longest chain of the demo, waits for this set
    priority: 50
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        n_images=config["demo"]["fer_images"],
        seed=config["seed"],
    script:
        "../workflow_scripts/demo_fer_dataset.py"


rule demo_video:
    input:
        code=code_of("demo_video"),
    output:
        video="resources/demo/videos/{participant}_{condition}.mp4",
        annotation="resources/demo/annotations/{participant}_{condition}.csv",
    log:
        "logs/demo_video/{participant}_{condition}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        duration_s=config["demo"]["duration_s"],
        fps=config["demo"]["fps"],
        seed=config["seed"],
    script:
        "../workflow_scripts/demo_video.py"
