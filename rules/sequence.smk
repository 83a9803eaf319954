# Sequence models: trained on padded, masked per-frame feature sequences of the training
# sessions (and their augmented copies), targets = pseudo labels, validation by participant;
# each exported to ONNX for the predict jobs.
# {model} is one of lstm, bilstm, attention, autoencoder; config sequence.model picks the one
# that makes the predictions, evaluation.compare the ones the study report compares.


rule train_sequence:
    input:
        unpack(sequence_training_inputs),
    output:
        model="results/models/sequence/{model}.keras",
        history="results/models/sequence/{model}_history.csv",
    log:
        "logs/train_sequence/{model}.log",
    benchmark:
        "benchmarks/train_sequence/{model}.tsv"
    conda:
        "../envs/tf.yaml"
    threads: 4
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        participants=[SESSIONS.loc[s, "participant"] for s in TRAIN],
        emotions=EMOTIONS,
        sequence=config["sequence"],
        fps=sampled_fps(TRAIN),
        seed=config["seed"],
    script:
        "../workflow_scripts/train_sequence.py"


rule export_sequence:
    input:
        model="results/models/sequence/{model}.keras",
    output:
        onnx="results/models/sequence/{model}.onnx",
    log:
        "logs/export_sequence/{model}.log",
    conda:
        "../envs/tf.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "../workflow_scripts/export_sequence.py"


rule sequence_curves:
    input:
        history="results/models/sequence/{model}_history.csv",
    output:
        png=report(
            "results/models/sequence/{model}_curves.png",
            caption="../report/sequence_curves.rst",
            category="Sequence model",
            labels={"model": "{model}"},
        ),
    log:
        "logs/sequence_curves/{model}.log",
    conda:
        "../envs/tf.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../workflow_scripts/training_curves.py"
