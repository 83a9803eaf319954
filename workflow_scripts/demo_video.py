from emotiontrack.demo import make_session_video
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0]) as log:
    stats = make_session_video(
        snakemake.output.video,
        snakemake.output.annotation,
        snakemake.wildcards.participant,
        snakemake.wildcards.condition,
        seed=snakemake.params.seed,
        duration_s=snakemake.params.duration_s,
        fps=snakemake.params.fps,
    )
    log.info("%s", stats)
