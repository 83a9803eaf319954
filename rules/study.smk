# Study-level answers: each selected session's timeline summarised per emotion (coverage, mean
# probability, share dominant, episodes, onset, peak) and its transitions; then every pair of
# conditions tested per emotion x measure, with effect sizes, bootstrap intervals and BH q-values.


rule study_sessions:
    input:
        unpack(study_inputs),
        code=code_of("study_sessions"),
    output:
        summary="results/study/session_summary.csv",
        transitions="results/study/transitions.csv",
        curves="results/study/curves.csv",
    log:
        "logs/study_sessions.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        sessions=STUDY_SESSIONS,
        emotions=EMOTIONS,
        timeline=STUDY["timeline"],
        min_episode_s=STUDY["min_episode_s"],
        bin_s=STUDY["bin_s"],
        baseline_condition=STUDY["baseline_condition"],
        window_s=config["trends"]["window_s"],
    script:
        "../workflow_scripts/study_sessions.py"


rule study_conditions:
    input:
        summary="results/study/session_summary.csv",
        curves="results/study/curves.csv",
        code=code_of("study_conditions"),
    output:
        csv="results/study/conditions.csv",
        md=report(
            "results/study/conditions.md",
            caption="../report/study_conditions.rst",
            category="Study",
        ),
        paired=report(
            "results/study/paired.png",
            caption="../report/study_paired.rst",
            category="Study",
            labels={"figure": "per participant and condition"},
        ),
        heatmap=report(
            "results/study/heatmap.png",
            caption="../report/study_heatmap.rst",
            category="Study",
            labels={"figure": "condition x emotion differences"},
        ),
        curves=report(
            "results/study/curves.png",
            caption="../report/study_curves.rst",
            category="Study",
            labels={"figure": "mean curves per condition"},
        ),
    log:
        "logs/study_conditions.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        emotions=EMOTIONS,
        conditions=STUDY_CONDITIONS,
        baseline_condition=STUDY["baseline_condition"],
        min_participants=STUDY["min_participants"],
        bootstrap=STUDY["bootstrap"],
        q=STUDY["q"],
        seed=config["seed"],
    script:
        "../workflow_scripts/study_conditions.py"
