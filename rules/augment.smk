# Augmented sets: seeded, label-preserving copies of training sessions' face sequences.


rule augment_frames:
    input:
        h5="results/frames/{participant}_{condition}.h5",
        code=code_of("augment_frames"),
    output:
        h5="results/augmented/{participant}_{condition}.h5",
    log:
        "logs/augment_frames/{participant}_{condition}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        copies=config["augment"]["copies"],
        seed=config["seed"],
    script:
        "../workflow_scripts/augment_frames.py"
