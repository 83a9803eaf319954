from emotiontrack.logs import step_logging
from emotiontrack.problems import write_excluded

with step_logging(snakemake.log[0]):
    write_excluded(
        snakemake.wildcards.participant,
        snakemake.wildcards.condition,
        snakemake.params.reason,
        snakemake.output.txt,
    )
