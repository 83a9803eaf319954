from emotiontrack.demo import make_fer_csv
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0], outputs=snakemake.output) as log:
    p = snakemake.params
    log.info(
        "%s",
        make_fer_csv(
            snakemake.output.csv,
            p.n_images,
            seed=p.seed,
            part=int(snakemake.wildcards.part),
            parts=p.parts,
        ),
    )
