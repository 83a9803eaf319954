# Sessions left out by bad_videos: exclude (their video failed the up-front check): a flagged
# output saying why, instead of their frames, timelines and charts.


rule excluded_session:
    input:
        code=code_of("excluded_session"),
    output:
        txt="results/excluded/{participant}_{condition}.txt",
    log:
        "logs/excluded_session/{participant}_{condition}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    params:
        reason=excluded_reason,
    script:
        "../workflow_scripts/excluded_session.py"
