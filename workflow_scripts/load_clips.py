from emotiontrack.clips.loaders import build_clip_set
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0], outputs=snakemake.output) as log:
    summary = build_clip_set(
        p.format,
        snakemake.input.root,
        snakemake.output.h5,
        va_clusters=snakemake.input.get("va_clusters"),
        length=p.length,
        detect=p.detect,
        landmarks=p.landmarks,
        classes=p.classes,
        test_fraction=p.test_fraction,
        validation_fraction=p.validation_fraction,
        seed=p.seed,
        finder_options=p.finder,
    )
    log.info("%s", summary)
