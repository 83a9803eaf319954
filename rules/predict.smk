# Predictions: first the HMM baseline's start and transition probabilities, estimated once on the
# training sessions' labels (annotations, else pseudo labels); then the choice of the method that
# writes each session's `label` and trend chart (the best on the validation sessions, else config
# sequence.model), then every session's emotion timeline from it, with the per-frame CNN decision
# beside it; and, for the choice and the study report, the validation and held-out sessions'
# timelines from every compared sequence model.
# Sequence models run from their ONNX exports (onnxruntime): no TensorFlow in these jobs.


rule predict_compared:
    input:
        features="results/features/{participant}_{condition}.h5",
        model="results/models/sequence/{model}.onnx",
        code=code_of("predict_sequence"),
    output:
        csv="results/evaluation/predictions/{model}/{participant}_{condition}.csv",
    log:
        "logs/predict_compared/{model}/{participant}_{condition}.log",
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
        "../workflow_scripts/predict_sequence.py"


rule hmm_transitions:
    input:
        unpack(training_for_hmm),
        code=code_of("hmm_transitions"),
    output:
        json=HMM,
    log:
        "logs/hmm_transitions.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        train_sessions=TRAINING_SESSIONS,
        emotions=EMOTIONS,
    script:
        "../workflow_scripts/hmm_transitions.py"


rule choose_method:
    input:
        unpack(choice_inputs),
        code=code_of("choose_method"),
    output:
        json="results/evaluation/chosen_method.json",
    log:
        "logs/choose_method.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        validation_sessions=VALIDATION_SESSIONS,
        emotions=EMOTIONS,
        default=SEQUENCE_MODEL,
        smoothing_s=config["evaluation"]["smoothing_s"],
    script:
        "../workflow_scripts/choose_method.py"


rule predict:
    input:
        unpack(predict_inputs),
        code=code_of("predict"),
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
        model_names=PREDICT_MODELS,
        emotions=EMOTIONS,
        use_probabilities=config["sequence"]["use_probabilities"],
    script:
        "../workflow_scripts/predict.py"
