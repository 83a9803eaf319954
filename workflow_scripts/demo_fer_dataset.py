from emotiontrack.demo import join_fer_parts
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0], outputs=snakemake.output) as log:
    log.info("%s", join_fer_parts(snakemake.input.parts, snakemake.output.csv))
