from emotiontrack.clips.va import cluster_clip_set
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    result = cluster_clip_set(
        snakemake.input.root,
        snakemake.output.json,
        snakemake.output.png,
        k=p.k,
        seed=p.seed,
        names_file=snakemake.input.get("names"),
    )
    log.info("classes %s, clips per class %s", result["classes"], result["counts"])
