"""EmotionTrack: facial emotion timelines from participant videos.

The Snakemake workflow (``Snakefile``, ``rules/``) calls into this package through thin
adapters in ``workflow_scripts/``; every module here is usable and testable on its own.
"""

__version__ = "0.1.0"


class UserInputError(Exception):
    """A problem the user can fix (bad file, bad config value): the message names file and fix."""
