# The embedded demo study, generated deterministically into resources/demo/ (never data/).
# Included (Snakefile) only when the sheet or fer.path points at resources/demo/ (USES_DEMO).


# The demo FER set is made in parts side by side, then joined: the CNN's training, the demo's
# longest chain, waits for the whole set. The joined file is the same for any number of parts.
DEMO_FER_PARTS = 2


rule demo_fer_part:
    input:
        code=code_of("demo_fer_part"),
    output:
        csv=temp("resources/demo/fer_parts/{part}.csv"),
    log:
        "logs/demo_fer_part/{part}.log",
    wildcard_constraints:
        part=r"\d+",
    # first: the CNN's training waits for the set
    priority: 50
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        n_images=config["demo"]["fer_images"],
        parts=DEMO_FER_PARTS,
        seed=config["seed"],
    script:
        "../workflow_scripts/demo_fer_part.py"


rule demo_fer_dataset:
    input:
        parts=expand("resources/demo/fer_parts/{part}.csv", part=range(DEMO_FER_PARTS)),
        code=code_of("demo_fer_dataset"),
    output:
        csv="resources/demo/fer2013.csv",
    log:
        "logs/demo_fer_dataset.log",
    priority: 50
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
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
