from emotiontrack.frames import contact_sheet
from emotiontrack.logs import step_logging

with step_logging(snakemake.log[0]):
    contact_sheet(snakemake.input.h5, snakemake.output.png)
