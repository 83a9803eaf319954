# CNN: train the per-frame FER classifier on the FER set (or import a pretrained one, config
# cnn.pretrained), export it to ONNX for the per-session jobs, then score it on the FER set's
# test split.


rule train_cnn:
    input:
        fer=config["fer"]["path"],
        code=code_of("train_cnn"),
    output:
        model="results/models/cnn.keras",
        history="results/models/cnn_history.csv",
        crop="results/models/cnn_crop.json",
    log:
        "logs/train_cnn.log",
    benchmark:
        "benchmarks/train_cnn.tsv"
    # before the frames jobs: every features job waits for the CNN, the frames jobs for nothing
    priority: 50
    conda:
        "../envs/tf.yaml"
    # one thread: TensorFlow does not spread this small CNN's batches over a second core (the
    # demo on 2 cores: 117 s wall, 121 s CPU with two; 124 s, 98 s CPU with one), and a job
    # claiming two keeps the other core idle meanwhile; one thread also makes the trained model
    # the same whatever the core count (the thread count changes the order of float sums)
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        emotions=EMOTIONS,
        fer_format=config["fer"]["format"],
        val_fraction=config["fer"]["val_fraction"],
        test_fraction=config["fer"]["test_fraction"],
        architecture=config["cnn"]["architecture"],
        input_size=config["cnn"]["input_size"],
        epochs=config["cnn"]["epochs"],
        batch_size=config["cnn"]["batch_size"],
        learning_rate=config["cnn"]["learning_rate"],
        patience=config["cnn"]["patience"],
        crop_margin=TRAINED_CROP_MARGIN,
        seed=config["seed"],
    script:
        "../workflow_scripts/train_cnn.py"


rule import_pretrained_cnn:
    input:
        unpack(pretrained_inputs),
        code=code_of("import_pretrained_cnn"),
    output:
        model="results/models/cnn_pretrained.keras",
        provenance="results/models/cnn_pretrained.json",
        crop="results/models/cnn_pretrained_crop.json",
    log:
        "logs/import_pretrained_cnn.log",
    priority: 50
    conda:
        "../envs/tf.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=PRETRAINED,
        emotions=EMOTIONS,
        crop_margin=config["cnn"]["crop_margin"],
    script:
        "../workflow_scripts/import_pretrained_cnn.py"


rule export_cnn:
    input:
        model=CNN_MODEL,
        code=code_of("export_cnn"),
    output:
        onnx="results/models/cnn.onnx",
    log:
        "logs/export_cnn.log",
    priority: 50
    conda:
        "../envs/tf.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "../workflow_scripts/export_cnn.py"


rule evaluate_cnn:
    input:
        fer=config["fer"]["path"],
        model=CNN_MODEL,
        history=CNN_HISTORY,
        code=code_of("evaluate_cnn"),
    output:
        metrics="results/cnn/test_metrics.json",
        confusion=report(
            "results/cnn/confusion_matrix.png",
            caption="../report/cnn_confusion.rst",
            category="CNN",
        ),
        curves=report(
            "results/cnn/training_curves.png",
            caption="../report/cnn_curves.rst",
            category="CNN",
        ),
        samples=report(
            "results/cnn/sample_predictions.png",
            caption="../report/cnn_samples.rst",
            category="CNN",
        ),
    log:
        "logs/evaluate_cnn.log",
    conda:
        "../envs/tf.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        emotions=EMOTIONS,
        fer_format=config["fer"]["format"],
        val_fraction=config["fer"]["val_fraction"],
        test_fraction=config["fer"]["test_fraction"],
        input_size=config["cnn"]["input_size"],
        seed=config["seed"],
    script:
        "../workflow_scripts/evaluate_cnn.py"
