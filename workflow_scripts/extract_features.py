from emotiontrack.features import extract_features
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0], outputs=snakemake.output):
    extract_features(
        snakemake.input.frames,
        snakemake.input.model,
        snakemake.output.h5,
        snakemake.params.emotions,
        crop=snakemake.input.crop,
        threads=snakemake.threads,
    )
