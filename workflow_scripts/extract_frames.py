from emotiontrack.faces import FaceDetector
from emotiontrack.frames import extract_frames
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0]):
    extract_frames(
        snakemake.input.video,
        snakemake.output.h5,
        sample_fps=p.fps,
        crop_size=p.crop_size,
        margin=p.margin,
        detector=FaceDetector(detect_width=p.detect_width, min_neighbors=p.min_neighbors),
    )
