from emotiontrack.choice import read_choice
from emotiontrack.logs import step_logging
from emotiontrack.trends import plot_trends

t = snakemake.params.trends
w = snakemake.wildcards
with step_logging(snakemake.log[0]) as log:
    summary = plot_trends(
        snakemake.input.predictions,
        snakemake.input.frames,
        snakemake.output.png,
        snakemake.output.csv,
        snakemake.params.emotions,
        title=f"{w.participant} / {w.condition} — {read_choice(snakemake.input.choice)['label']}",
        window_s=t["window_s"],
        n_annotate=t["n_annotate"],
        prominence=t["prominence"],
    )
    log.info("%s", summary)
