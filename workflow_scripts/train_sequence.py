import os

from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    # the GPUs a scheduler gave this job (SLURM sets it for --gpus jobs)
    log.info("CUDA_VISIBLE_DEVICES=%s", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    configure_tf(snakemake.threads, p.seed)
    from emotiontrack.sequence import TrainingSession, train_sequence_model

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
    s = p.sequence
    kind = snakemake.wildcards.model
    window = max(2, round(s["window_s"] * p.fps))
    smoothing_s = s["refine_target_smoothing_s" if kind == "refine" else "target_smoothing_s"]
    result = train_sequence_model(
        sessions,
        p.emotions,
        snakemake.output.model,
        snakemake.output.history,
        kind=kind,
        units=s["units"],
        bottleneck=s["bottleneck"],
        window=window,
        stride=max(1, window // 2),
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        learning_rate=s["learning_rate"],
        patience=s["patience"],
        validation_participants=s["validation_participants"],
        use_probabilities=s["use_probabilities"],
        target_window=max(1, round(smoothing_s * p.fps)),
        delta_penalty=s["delta_penalty"],
        seed=p.seed,
    )
    log.info("%s", result)
