from emotiontrack.logs import step_logging
from emotiontrack.sequence import predict_session

with step_logging(snakemake.log[0]):
    predict_session(
        snakemake.input.features,
        snakemake.input.model,
        snakemake.output.csv,
        snakemake.params.emotions,
        use_probabilities=snakemake.params.use_probabilities,
        threads=snakemake.threads,
    )
