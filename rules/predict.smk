# Predictions: each session's emotion timeline from the chosen sequence model
# (config sequence.model, run from its ONNX export: no TensorFlow), with the per-frame CNN
# decision beside it; and, for the study report, the held-out sessions' timelines from every
# compared sequence model.


rule predict:
    input:
        features="results/features/{participant}_{condition}.h5",
        model=f"results/models/sequence/{SEQUENCE_MODEL}.onnx",
    output:
        csv="results/predictions/{participant}_{condition}.csv",
    log:
        "logs/predict/{participant}_{condition}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        emotions=EMOTIONS,
        use_probabilities=config["sequence"]["use_probabilities"],
    script:
        "../workflow_scripts/predict.py"


use rule predict as predict_compared with:
    input:
        features="results/features/{participant}_{condition}.h5",
        model="results/models/sequence/{model}.onnx",
    output:
        csv="results/evaluation/predictions/{model}/{participant}_{condition}.csv",
    log:
        "logs/predict_compared/{model}/{participant}_{condition}.log",
