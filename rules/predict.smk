# Predictions: each session's emotion timeline from the sequence model, with the per-frame CNN
# decision beside it.


rule predict:
    input:
        features="results/features/{participant}_{condition}.h5",
        model="results/models/lstm.keras",
    output:
        csv="results/predictions/{participant}_{condition}.csv",
    log:
        "logs/predict/{participant}_{condition}.log",
    conda:
        "../envs/tf.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        emotions=EMOTIONS,
        use_probabilities=config["sequence"]["use_probabilities"],
    script:
        "../workflow_scripts/predict.py"
