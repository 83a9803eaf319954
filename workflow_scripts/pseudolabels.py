from emotiontrack.logs import step_logging
from emotiontrack.pseudolabels import make_pseudolabels

with step_logging(snakemake.log[0]) as log:
    log.info(
        "%s", make_pseudolabels(snakemake.input.h5, snakemake.output.npy, snakemake.output.json)
    )
