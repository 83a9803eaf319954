from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

with step_logging(snakemake.log[0]):
    configure_tf(snakemake.threads)
    from emotiontrack.sequence import predict_session

    predict_session(
        snakemake.input.features,
        snakemake.input.model,
        snakemake.output.csv,
        snakemake.params.emotions,
        use_probabilities=snakemake.params.use_probabilities,
    )
