# Evaluation: per-frame CNN and sequence-model predictions of held-out (test) sessions against
# their ground-truth annotation: accuracy, macro-F1, per-class scores, confusion matrices.


rule evaluate_study:
    input:
        unpack(evaluation_inputs),
    output:
        json="results/evaluation/metrics.json",
        md=report(
            "results/evaluation/summary.md",
            caption="../report/evaluation.rst",
            category="Evaluation",
        ),
        cnn_png=report(
            "results/evaluation/confusion_cnn.png",
            caption="../report/evaluation_confusion.rst",
            category="Evaluation",
            labels={"model": "per-frame CNN"},
        ),
        lstm_png=report(
            "results/evaluation/confusion_lstm.png",
            caption="../report/evaluation_confusion.rst",
            category="Evaluation",
            labels={"model": "LSTM"},
        ),
    log:
        "logs/evaluate_study.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        sessions=[
            {
                "session": s,
                "participant": SESSIONS.loc[s, "participant"],
                "condition": SESSIONS.loc[s, "condition"],
            }
            for s in EVALUATED
        ],
        emotions=EMOTIONS,
    script:
        "../workflow_scripts/evaluate_study.py"
