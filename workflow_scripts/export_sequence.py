from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

with step_logging(snakemake.log[0]) as log:
    configure_tf(snakemake.threads)
    from emotiontrack.export import export_sequence

    log.info("%s", export_sequence(snakemake.input.model, snakemake.output.onnx))
