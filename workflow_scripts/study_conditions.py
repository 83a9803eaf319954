from emotiontrack.logs import step_logging
from emotiontrack.study import compare_conditions

p = snakemake.params
i = snakemake.input
o = snakemake.output
with step_logging(snakemake.log[0]):
    compare_conditions(
        i.summary,
        i.curves,
        p.emotions,
        p.conditions,
        o.csv,
        o.md,
        o.paired,
        o.heatmap,
        o.curves,
        baseline_condition=p.baseline_condition,
        min_participants=p.min_participants,
        n_bootstrap=p.bootstrap,
        q_level=p.q,
        seed=p.seed,
    )
