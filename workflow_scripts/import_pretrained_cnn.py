import json

from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

with step_logging(snakemake.log[0]) as log:
    configure_tf(snakemake.threads)
    from emotiontrack.pretrained import save_pretrained, write_crop

    p = snakemake.params
    info = save_pretrained(p.spec, p.emotions, snakemake.output.model)
    write_crop(p.spec, info["input_size"], snakemake.output.crop, margin=p.crop_margin)
    with open(snakemake.output.provenance, "w") as fh:
        json.dump(info, fh, indent=2)
    log.info("%s", info)
