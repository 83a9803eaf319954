from emotiontrack.demo import make_fer_csv
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0], outputs=snakemake.output) as log:
    log.info(
        "%s",
        make_fer_csv(snakemake.output.csv, snakemake.params.n_images, seed=snakemake.params.seed),
    )
