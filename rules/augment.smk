# Augmented sets: seeded, label-preserving copies of training sessions' face sequences.


rule augment_frames:
    input:
        h5="results/frames/{participant}_{condition}.h5",
    output:
        h5="results/augmented/{participant}_{condition}.h5",
    params:
        copies=config["augment"]["copies"],
        seed=config["seed"],
    log:
        "logs/augment_frames/{participant}_{condition}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/vision.yaml"
    script:
        "../workflow_scripts/augment_frames.py"
