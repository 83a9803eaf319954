from emotiontrack.logs import step_logging
from emotiontrack.tfutil import configure_tf

p = snakemake.params
with step_logging(snakemake.log[0]):
    configure_tf(snakemake.threads, p.seed)
    from emotiontrack.cnn import evaluate_cnn
    from emotiontrack.datasets import load_fer_dataset

    data = load_fer_dataset(
        snakemake.input.fer,
        p.emotions,
        fmt=p.fer_format,
        size=p.input_size,
        seed=p.seed,
        val_fraction=p.val_fraction,
        test_fraction=p.test_fraction,
    )
    evaluate_cnn(
        snakemake.input.model,
        data,
        snakemake.input.history,
        p.emotions,
        snakemake.output.metrics,
        snakemake.output.confusion,
        snakemake.output.curves,
        out_samples_png=snakemake.output.samples,
    )
