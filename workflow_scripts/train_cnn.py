import os

from emotiontrack.crops import CropGeometry, write_geometry
from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    # the GPUs a scheduler gave this job (SLURM sets it for --gpus jobs)
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    configure_tf(snakemake.threads, p.seed)
    from emotiontrack.cnn import train_cnn
    from emotiontrack.datasets import load_fer_dataset

    data = load_fer_dataset(
        snakemake.input.fer,
        p.emotions,
        fmt=p.fer_format,
        size=p.input_size,
        seed=p.seed,
        val_fraction=p.val_fraction,
        test_fraction=p.test_fraction,
    )
    result = train_cnn(
        data,
        p.emotions,
        snakemake.output.model,
        snakemake.output.history,
        architecture=p.architecture,
        epochs=p.epochs,
        batch_size=p.batch_size,
        learning_rate=p.learning_rate,
        patience=p.patience,
        seed=p.seed,
    )
    log.info("best epoch: %s", result)
    write_geometry(
        snakemake.output.crop,
        CropGeometry(size=p.input_size, margin=p.crop_margin),
        source="trained on the FER set; margin: fer.crop_margin (the set's framing) "
        "unless cnn.crop_margin overrides it",
    )
