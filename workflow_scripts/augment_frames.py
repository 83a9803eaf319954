from emotiontrack.augment import augment_session
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0]):
    augment_session(
        snakemake.input.h5,
        snakemake.output.h5,
        copies=snakemake.params.copies,
        seed=snakemake.params.seed,
    )
