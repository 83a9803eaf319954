import os

from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    # the GPUs a scheduler gave this job (SLURM sets it for --gpus jobs)
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    configure_tf(snakemake.threads, p.seed)
    from emotiontrack.clips.train import train_clip_model

    result = train_clip_model(
        snakemake.input.clips,
        p.model,
        snakemake.output.model,
        snakemake.output.history,
        snakemake.output.predictions,
        input_size=p.input_size,
        units=p.units,
        epochs=p.epochs,
        batch_size=p.batch_size,
        learning_rate=p.learning_rate,
        patience=p.patience,
        seed=p.seed,
        regression=p.regression,
    )
    log.info("%s", result)
