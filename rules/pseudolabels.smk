# Pseudo labels: the CNN's per-frame decision and confidence, the sequence model's targets.
# They are not ground truth and nothing is scored against them.


rule pseudolabels:
    input:
        h5="results/features/{participant}_{condition}.h5",
        code=code_of("pseudolabels"),
    output:
        npy="results/pseudolabels/{participant}_{condition}.npy",
        json="results/pseudolabels/{participant}_{condition}.json",
    log:
        "logs/pseudolabels/{participant}_{condition}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/pseudolabels.py"
