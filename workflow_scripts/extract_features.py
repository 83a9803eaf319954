from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

with step_logging(snakemake.log[0]):
    configure_tf(snakemake.threads)
    from emotiontrack.features import extract_features

    extract_features(
        snakemake.input.frames,
        snakemake.input.model,
        snakemake.output.h5,
        snakemake.params.emotions,
    )
