from emotiontrack.clips.evaluate import baseline_predictions
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0]):
    baseline_predictions(
        snakemake.input.clips,
        snakemake.wildcards.baseline,
        snakemake.output.predictions,
        cnn=snakemake.input.get("cnn"),
        crop=snakemake.input.get("crop"),
        emotions=snakemake.params.emotions,
        threads=snakemake.threads,
    )
