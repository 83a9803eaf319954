# Features: the CNN's penultimate-layer features and class probabilities per sampled frame
# (batched inference of the CNN's ONNX export, no TensorFlow, on the CNN's own crop, cut from the
# stored wide crops), for every session and for the augmented copies of training sessions.


rule extract_features:
    input:
        frames="results/frames/{participant}_{condition}.h5",
        model="results/models/cnn.onnx",
        crop=CNN_CROP,
        code=code_of("extract_features"),
    output:
        h5="results/features/{participant}_{condition}.h5",
    log:
        "logs/extract_features/{participant}_{condition}.log",
    benchmark:
        "benchmarks/extract_features/{participant}_{condition}.tsv"
    conda:
        "../envs/vision.yaml"
    threads: 1  # onnxruntime on a second thread was slower (bench/throughput.py, 2 cores)
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        emotions=EMOTIONS,
    script:
        "../workflow_scripts/extract_features.py"


use rule extract_features as extract_augmented_features with:
    input:
        frames="results/augmented/{participant}_{condition}.h5",
        model="results/models/cnn.onnx",
        crop=CNN_CROP,
        code=code_of("extract_features"),
    output:
        h5="results/features/augmented/{participant}_{condition}.h5",
    log:
        "logs/extract_augmented_features/{participant}_{condition}.log",
    benchmark:
        "benchmarks/extract_augmented_features/{participant}_{condition}.tsv"
