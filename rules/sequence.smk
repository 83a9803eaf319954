# Sequence models: trained on padded, masked per-frame feature sequences of the training
# sessions (and their augmented copies), targets = pseudo labels, validation by participant.
# {model} is one of refine, lstm, bilstm, attention, autoencoder; config sequence.model is the
# default method, evaluation.compare the other candidates (see predict.smk for the choice).


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
