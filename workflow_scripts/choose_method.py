from emotiontrack.choice import choose_method
from emotiontrack.comparison import read_hmm
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0]):
    choose_method(
        p.validation_sessions,
        read_hmm(snakemake.input.hmm),
        p.emotions,
        snakemake.output.json,
        default=p.default,
        smoothing_s=p.smoothing_s,
    )
