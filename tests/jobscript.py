"""Run a ``workflow_scripts/*.py`` file outside Snakemake, the way its ``script:`` directive runs
it: the file executed as ``__main__`` with a global ``snakemake`` that carries ``input``,
``output``, ``params``, ``log``, ``threads`` and ``wildcards`` (named and positional access, as
Snakemake's own lists give). Used where a test needs a job's real code path in a fresh process
(which modules it imports) without a workflow around it.

Command line (one job, its ``snakemake`` object as JSON)::

    python tests/jobscript.py workflow_scripts/predict.py job.json
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Named(list):
    """A list whose entries are also attributes (``snakemake.input.features``,
    ``snakemake.log[0]``); an entry may itself be a list (``unpack`` of a list input)."""

    def __init__(self, named: dict | None = None):
        named = dict(named or {})
        super().__init__(named.values())
        self.__dict__.update(named)


class Job:
    """The ``snakemake`` object a workflow script reads."""

    def __init__(
        self,
        *,
        input: dict,
        output: dict,
        log: str,
        params: dict | None = None,
        threads: int = 1,
        wildcards: dict | None = None,
    ):
        self.input, self.output = Named(input), Named(output)
        self.params, self.wildcards = Named(params), Named(wildcards)
        self.log = Named({"log": log})
        self.threads = threads


def run_script(script: str | Path, **job) -> None:
    """Execute ``script`` (a path relative to the repository, or absolute) with ``snakemake`` =
    ``Job(**job)``."""
    script = Path(script)
    if not script.is_absolute():
        script = REPO / script
    runpy.run_path(str(script), init_globals={"snakemake": Job(**job)}, run_name="__main__")


if __name__ == "__main__":
    run_script(sys.argv[1], **json.loads(Path(sys.argv[2]).read_text()))
