from emotiontrack.choice import predict_with_method
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    choice = predict_with_method(
        snakemake.input.features,
        snakemake.input.choice,
        dict(zip(p.model_names, snakemake.input.models, strict=True)),
        snakemake.output.csv,
        p.emotions,
        use_probabilities=p.use_probabilities,
        threads=snakemake.threads,
    )
    log.info("method: %s", choice["method"])
