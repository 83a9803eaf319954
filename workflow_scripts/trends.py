from emotiontrack.choice import read_choice
from emotiontrack.logs import step_logging
from emotiontrack.trends import plot_trends

p = snakemake.params
w = snakemake.wildcards
with step_logging(snakemake.log[0]) as log:
    summary = plot_trends(
        snakemake.input.predictions,
        snakemake.input.frames,
        snakemake.output.png,
        snakemake.output.csv,
        p.emotions,
        title=f"{w.participant} / {w.condition} — {read_choice(snakemake.input.choice)['label']}",
        window_s=p.window_s,
        n_annotate=p.n_annotate,
        prominence=p.prominence,
    )
    log.info("%s", summary)
