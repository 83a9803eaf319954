# Predictions: each session's emotion timeline from the sequence model, with the per-frame CNN
# decision beside it.


rule predict:
    input:
        features="results/features/{participant}_{condition}.h5",
        model="results/models/lstm.keras",
    output:
        csv="results/predictions/{participant}_{condition}.csv",
    params:
        emotions=EMOTIONS,
        use_probabilities=config["sequence"]["use_probabilities"],
    log:
        "logs/predict/{participant}_{condition}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/tf.yaml"
    script:
        "../workflow_scripts/predict.py"
