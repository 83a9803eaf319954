import json

from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

with step_logging(snakemake.log[0]) as log:
    configure_tf(snakemake.threads)
    from emotiontrack.pretrained import save_pretrained

    info = save_pretrained(snakemake.params.spec, snakemake.params.emotions, snakemake.output.model)
    with open(snakemake.output.provenance, "w") as fh:
        json.dump(info, fh, indent=2)
    log.info("%s", info)
