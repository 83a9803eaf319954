# Trends: smoothed per-emotion curves over time, peaks and valleys annotated with the face at
# that moment, and the smoothed series as CSV.


rule trends:
    input:
        predictions="results/predictions/{participant}_{condition}.csv",
        frames="results/frames/{participant}_{condition}.h5",
        choice="results/evaluation/chosen_method.json",
        code=code_of("trends"),
    output:
        png=report(
            "results/trends/{participant}_{condition}.png",
            caption="../report/trends.rst",
            category="Emotion trends",
            labels={"participant": "{participant}", "condition": "{condition}"},
        ),
        csv="results/trends/{participant}_{condition}.csv",
    log:
        "logs/trends/{participant}_{condition}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        emotions=EMOTIONS,
        window_s=config["trends"]["window_s"],
        n_annotate=config["trends"]["n_annotate"],
        prominence=config["trends"]["prominence"],
    script:
        "../workflow_scripts/trends.py"
