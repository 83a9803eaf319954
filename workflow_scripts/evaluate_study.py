from emotiontrack.comparison import evaluate_and_compare, read_hmm
from emotiontrack.logs import step_logging

p = snakemake.params
o = snakemake.output
with step_logging(snakemake.log[0]):
    evaluate_and_compare(
        p.test_sessions,
        read_hmm(snakemake.input.hmm),
        p.emotions,
        o.json,
        o.md,
        o.cnn_png,
        o.chosen_png,
        o.comparison_png,
        o.embedding_png,
        template=snakemake.input.template,
        choice_json=snakemake.input.choice,
        cnn=p.cnn,
        smoothing_s=p.smoothing_s,
        embedding=p.embedding,
        seed=p.seed,
        excluded=p.excluded,
    )
