import pandas as pd

from emotiontrack.logs import step_logging
from emotiontrack.plots import plot_training_curves

with step_logging(snakemake.log[0]):
    plot_training_curves(
        pd.read_csv(snakemake.input.history),
        snakemake.output.png,
        f"{snakemake.wildcards.model} training",
    )
