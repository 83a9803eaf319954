from emotiontrack.comparison import hmm_from_training, write_hmm
from emotiontrack.logs import step_logging

p = snakemake.params
with step_logging(snakemake.log[0]) as log:
    hmm = hmm_from_training(p.train_sessions, p.emotions)
    write_hmm(snakemake.output.json, hmm)
    log.info("HMM estimated from the %d training sessions' %s", len(p.train_sessions), hmm["from"])
