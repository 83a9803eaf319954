from emotiontrack.choice import choose_method
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0]):
    choose_method(
        p.validation_sessions,
        p.train_sessions,
        p.emotions,
        snakemake.output.json,
        default=p.default,
        smoothing_s=p.smoothing_s,
    )
