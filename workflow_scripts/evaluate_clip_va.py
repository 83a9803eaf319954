from emotiontrack.clips.evaluate import evaluate_valence_arousal
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0]):
    evaluate_valence_arousal(
        snakemake.input.clips, snakemake.input.predictions, snakemake.output.json
    )
