from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    configure_tf(snakemake.threads)
    from emotiontrack.choice import predict_with_method

    choice = predict_with_method(
        snakemake.input.features,
        snakemake.input.choice,
        dict(zip(p.model_names, snakemake.input.models, strict=True)),
        snakemake.output.csv,
        p.emotions,
        use_probabilities=p.use_probabilities,
    )
    log.info("method: %s", choice["method"])
