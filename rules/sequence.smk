# Sequence models: trained on padded, masked per-frame feature sequences of the training
# sessions (and their augmented copies), targets = pseudo labels, validation by participant.
# The training job also exports it to ONNX (checked against Keras; in the same job, not one of
# its own: TensorFlow's start-up is most of an export) for the predict jobs, which run it
# without TensorFlow. {model} is one of refine, lstm, bilstm, attention, autoencoder; config
# sequence.model is the default method, evaluation.compare the other candidates (see predict.smk
# for the choice).


rule train_sequence:
    input:
        unpack(sequence_training_inputs),
        code=code_of("train_sequence"),
    output:
        model="results/models/sequence/{model}.keras",
        history="results/models/sequence/{model}_history.csv",
        onnx="results/models/sequence/{model}.onnx",
    log:
        "logs/train_sequence/{model}.log",
    benchmark:
        "benchmarks/train_sequence/{model}.tsv"
    conda:
        "../envs/tf.yaml"
    # one thread: a small recurrent model's batches keep a second thread mostly waiting (the
    # demo's models: 16 s of CPU in 22 s of wall with two), so the models train side by side
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        participants=[SESSIONS.loc[s, "participant"] for s in TRAIN],
        emotions=EMOTIONS,
        units=config["sequence"]["units"],
        window_s=config["sequence"]["window_s"],
        epochs=config["sequence"]["epochs"],
        batch_size=config["sequence"]["batch_size"],
        learning_rate=config["sequence"]["learning_rate"],
        patience=config["sequence"]["patience"],
        validation_participants=config["sequence"]["validation_participants"],
        use_probabilities=config["sequence"]["use_probabilities"],
        # the keys only some models use: None for the others, so they do not retrain on a change
        bottleneck=sequence_setting("bottleneck", "autoencoder"),
        target_smoothing_s=sequence_target_smoothing,
        delta_penalty=sequence_setting("delta_penalty", "refine"),
        fps=sampled_fps(TRAIN),
        seed=config["seed"],
    script:
        "../workflow_scripts/train_sequence.py"


rule sequence_curves:
    input:
        history="results/models/sequence/{model}_history.csv",
        code=code_of("training_curves"),
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
