from emotiontrack.clips.evaluate import compare_methods
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0]):
    compare_methods(
        snakemake.input.evals,
        snakemake.output.tsv,
        snakemake.output.md,
        snakemake.input.template,
        dataset=snakemake.wildcards.dataset,
        valence_arousal_json=snakemake.input.get("va"),
    )
