from emotiontrack.clips.demo import make_demo_clips
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    log.info(
        "%s",
        make_demo_clips(
            snakemake.wildcards.format,
            snakemake.output.root,
            subjects=p.subjects,
            clips_per_class=p.clips_per_class,
            frames=p.frames,
            seed=p.seed,
        ),
    )
