from emotiontrack.logs import step_logging
from emotiontrack.study import summarise_sessions

p = snakemake.params
o = snakemake.output
with step_logging(snakemake.log[0]):
    summarise_sessions(
        p.sessions,
        p.emotions,
        o.summary,
        o.transitions,
        o.curves,
        timeline=p.timeline,
        min_episode_s=p.min_episode_s,
        window_s=p.window_s,
        bin_s=p.bin_s,
        baseline_condition=p.baseline_condition,
    )
