# Frames: sample each session's video at frames.fps, detect the face and store a wide crop of it
# (each CNN's own crop is cut from it in the features job), one HDF5 per session (frames without
# a face kept as flagged gaps), plus a contact sheet to look at.


rule extract_frames:
    input:
        video=video_of,
        code=code_of("extract_frames"),
    output:
        h5="results/frames/{participant}_{condition}.h5",
    log:
        "logs/extract_frames/{participant}_{condition}.log",
    benchmark:
        "benchmarks/extract_frames/{participant}_{condition}.tsv"
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=120,
    params:
        fps=config["frames"]["fps"],
        mesh=config["frames"]["mesh"],
        # the face finder's settings (emotiontrack.faces.face_finder's parameters)
        finder=finder_settings(config["frames"]),
    script:
        "../workflow_scripts/extract_frames.py"


rule contact_sheet:
    input:
        h5="results/frames/{participant}_{condition}.h5",
        code=code_of("contact_sheet"),
    output:
        png=report(
            "results/frames/{participant}_{condition}_contact.png",
            caption="../report/contact_sheet.rst",
            category="Face frames",
            labels={"participant": "{participant}", "condition": "{condition}"},
        ),
    log:
        "logs/contact_sheet/{participant}_{condition}.log",
    conda:
        "../envs/vision.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/contact_sheet.py"
