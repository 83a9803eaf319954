from emotiontrack.clips.evaluate import score_predictions
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0]):
    out = snakemake.output
    score_predictions(
        snakemake.input.predictions,
        snakemake.wildcards.method,
        out.json,
        out.confusion,
        out.per_class,
    )
