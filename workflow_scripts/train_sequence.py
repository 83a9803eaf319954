import os

from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    # the GPUs a scheduler gave this job (SLURM sets it for --gpus jobs)
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    configure_tf(snakemake.threads, p.seed)
    from emotiontrack.sequence import TrainingSession
    from emotiontrack.sequence_training import train_sequence_model

    sessions = [
        TrainingSession(participant, f, pl, aug)
        for participant, f, pl, aug in zip(
            p.participants,
            snakemake.input.features,
            snakemake.input.pseudolabels,
            snakemake.input.augmented,
            strict=True,
        )
    ]
    kind = snakemake.wildcards.model
    window = max(2, round(p.window_s * p.fps))
    # bottleneck and delta_penalty are None for the models that do not use them
    optional = {"bottleneck": p.bottleneck, "delta_penalty": p.delta_penalty}
    result = train_sequence_model(
        sessions,
        p.emotions,
        snakemake.output.model,
        snakemake.output.history,
        kind=kind,
        units=p.units,
        window=window,
        stride=max(1, window // 2),
        epochs=p.epochs,
        batch_size=p.batch_size,
        learning_rate=p.learning_rate,
        patience=p.patience,
        validation_participants=p.validation_participants,
        use_probabilities=p.use_probabilities,
        target_window=max(1, round(p.target_smoothing_s * p.fps)),
        seed=p.seed,
        **{k: v for k, v in optional.items() if v is not None},
    )
    log.info("%s", result)
    from emotiontrack.export import export_sequence

    log.info("%s", export_sequence(snakemake.output.model, snakemake.output.onnx))
