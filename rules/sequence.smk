# Sequence model: an LSTM over padded, masked per-frame feature sequences of the training
# sessions (and their augmented copies), targets = pseudo labels, validation by participant.


rule train_lstm:
    input:
        unpack(sequence_training_inputs),
    output:
        model="results/models/lstm.keras",
        history="results/models/lstm_history.csv",
    log:
        "logs/train_lstm.log",
    benchmark:
        "benchmarks/train_lstm.tsv"
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
        fps=config["frames"]["fps"],
        seed=config["seed"],
    script:
        "../workflow_scripts/train_lstm.py"


rule lstm_curves:
    input:
        history="results/models/lstm_history.csv",
    output:
        png=report(
            "results/models/lstm_curves.png",
            caption="../report/lstm_curves.rst",
            category="Sequence model",
        ),
    log:
        "logs/lstm_curves.log",
    conda:
        "../envs/tf.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../workflow_scripts/training_curves.py"
