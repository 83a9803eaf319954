from emotiontrack.evaluate import evaluate_study
from emotiontrack.logs import step_logging

sessions = [
    dict(s, predictions=pred, annotation=ann)
    for s, pred, ann in zip(
        snakemake.params.sessions,
        snakemake.input.predictions,
        snakemake.input.annotations,
        strict=True,
    )
]
with step_logging(snakemake.log[0]):
    o = snakemake.output
    evaluate_study(sessions, snakemake.params.emotions, o.json, o.md, o.cnn_png, o.lstm_png)
