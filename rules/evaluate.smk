# Evaluation: held-out (test) sessions against their ground-truth annotation — the per-frame
# CNN and the method chosen on the validation sessions (both frame subsets, coverage, detection),
# then every method on the same frames: CNN, moving average, median, HMM/Viterbi and each
# compared sequence model. The report opens with which method made the predictions and why.


rule evaluate_study:
    input:
        unpack(evaluation_inputs),
        code=code_of("evaluate_study"),
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
            labels={"figure": "confusion: per-frame CNN"},
        ),
        chosen_png=report(
            "results/evaluation/confusion_chosen.png",
            caption="../report/evaluation_confusion.rst",
            category="Evaluation",
            labels={"figure": "confusion: chosen method"},
        ),
        comparison_png=report(
            "results/evaluation/comparison.png",
            caption="../report/evaluation_comparison.rst",
            category="Evaluation",
            labels={"figure": "all methods"},
        ),
        embedding_png=report(
            "results/evaluation/features_embedding.png",
            caption="../report/evaluation_embedding.rst",
            category="Evaluation",
            labels={"figure": "CNN feature embedding"},
        ),
    log:
        "logs/evaluate_study.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        test_sessions=EVALUATION_SESSIONS,
        emotions=EMOTIONS,
        cnn=CNN_DESCRIPTION,
        smoothing_s=config["evaluation"]["smoothing_s"],
        embedding=config["evaluation"]["embedding"],
        seed=config["seed"],
        excluded=EXCLUDED,
    script:
        "../workflow_scripts/evaluate_study.py"
