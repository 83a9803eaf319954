from emotiontrack.faces import face_finder
from emotiontrack.frames import extract_frames
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0], outputs=snakemake.output):
    extract_frames(
        snakemake.input.video,
        snakemake.output.h5,
        sample_fps=p.fps,
        detector=face_finder(**p.finder),
        mesh=p.mesh,
        threads=snakemake.threads,
    )
