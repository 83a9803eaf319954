# Labelled clips, models: each clip model of clips.datasets.<name>.models trained on the set's
# train split (early stopping on its validation split); the training job then predicts the test
# split (held-out subjects), and every method's predictions are scored per clip the same way,
# the models beside two baselines (the majority class, the per-frame CNN averaged over
# the clip), and all compared in one table. Sets with valence/arousal (afewva) also get a
# regression model, scored by RMSE and CCC.


rule train_clip_model:
    input:
        clips="results/clips/{dataset}/clips.h5",
        code=code_of("train_clip_model"),
    output:
        model="results/clips/{dataset}/models/{clip_model}.keras",
        history="results/clips/{dataset}/models/{clip_model}_history.csv",
        predictions="results/clips/{dataset}/predictions/{clip_model}.tsv",
    log:
        "logs/train_clip_model/{dataset}/{clip_model}.log",
    benchmark:
        "benchmarks/train_clip_model/{dataset}/{clip_model}.tsv"
    conda:
        "../envs/tf.yaml"
    threads: 4
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        model="{clip_model}",
        regression=False,
        input_size=clip_setting("input_size"),
        units=clip_setting("units"),
        epochs=clip_setting("epochs"),
        batch_size=clip_setting("batch_size"),
        learning_rate=clip_setting("learning_rate"),
        patience=clip_setting("patience"),
        seed=config["seed"],
    script:
        "../workflow_scripts/train_clip_model.py"


rule train_clip_va:
    input:
        clips="results/clips/{dataset}/clips.h5",
        code=code_of("train_clip_model"),
    output:
        model="results/clips/{dataset}/models/valence_arousal.keras",
        history="results/clips/{dataset}/models/valence_arousal_history.csv",
        predictions="results/clips/{dataset}/predictions/valence_arousal.tsv",
    log:
        "logs/train_clip_va/{dataset}.log",
    benchmark:
        "benchmarks/train_clip_va/{dataset}.tsv"
    conda:
        "../envs/tf.yaml"
    threads: 4
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        model=clip_va_model,
        regression=True,
        input_size=clip_setting("input_size"),
        units=clip_setting("units"),
        epochs=clip_setting("epochs"),
        batch_size=clip_setting("batch_size"),
        learning_rate=clip_setting("learning_rate"),
        patience=clip_setting("patience"),
        seed=config["seed"],
    script:
        "../workflow_scripts/train_clip_model.py"


rule clip_baseline:
    input:
        unpack(clip_baseline_inputs),
        code=code_of("clip_baseline"),
    output:
        predictions="results/clips/{dataset}/predictions/{baseline}.tsv",
    log:
        "logs/clip_baseline/{dataset}/{baseline}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        emotions=EMOTIONS,
    script:
        "../workflow_scripts/clip_baseline.py"


rule score_clip_predictions:
    input:
        predictions="results/clips/{dataset}/predictions/{method}.tsv",
        code=code_of("score_clip_predictions"),
    output:
        json="results/clips/{dataset}/eval/{method}.json",
        confusion=report(
            "results/clips/{dataset}/eval/{method}_confusion.png",
            caption="../report/clips_confusion.rst",
            category="Labelled clips",
            labels={"dataset": "{dataset}", "figure": "confusion: {method}"},
        ),
        per_class="results/clips/{dataset}/eval/{method}_per_class.tsv",
    log:
        "logs/score_clip_predictions/{dataset}/{method}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/score_clip_predictions.py"


rule evaluate_clip_va:
    input:
        clips="results/clips/{dataset}/clips.h5",
        predictions="results/clips/{dataset}/predictions/valence_arousal.tsv",
        code=code_of("evaluate_clip_va"),
    output:
        json="results/clips/{dataset}/eval/valence_arousal.json",
    log:
        "logs/evaluate_clip_va/{dataset}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/evaluate_clip_va.py"


rule compare_clip_models:
    input:
        unpack(clip_comparison_inputs),
        code=code_of("compare_clip_models"),
    output:
        tsv="results/clips/{dataset}/comparison.tsv",
        md=report(
            "results/clips/{dataset}/comparison.md",
            caption="../report/clips_comparison.rst",
            category="Labelled clips",
            labels={"dataset": "{dataset}", "figure": "comparison"},
        ),
    log:
        "logs/compare_clip_models/{dataset}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/compare_clip_models.py"
