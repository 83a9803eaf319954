from emotiontrack.faces import face_finder
from emotiontrack.frames import extract_frames
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0], outputs=snakemake.output):
    extract_frames(
        snakemake.input.video,
        snakemake.output.h5,
        sample_fps=p.fps,
        detector=face_finder(
            detector=p.detector,
            detector_model=p.detector_model,
            detector_min_score=p.detector_min_score,
            detector_min_face=p.detector_min_face,
            detect_width=p.detect_width,
            min_neighbors=p.min_neighbors,
            track=p.track,
            detect_every=p.detect_every,
            track_face_px=p.track_face_px,
            track_margin=p.track_margin,
            track_size_range=p.track_size_range,
            track_refresh_every=p.track_refresh_every,
            track_lost_every=p.track_lost_every,
        ),
        mesh=p.mesh,
        threads=snakemake.threads,
    )
