"""Release Snakemake's lock after a crash, but only when it is stale.

    make unlock        # in the study's directory (or: python tools/unlock.py)

Snakemake locks the working directory while it runs (`.snakemake/locks/`), so that two runs do
not write the same outputs. A run killed with `kill -9`, by the out-of-memory killer or a power
cut cannot remove its lock; the next run then stops with "Directory cannot be locked ... run
snakemake --unlock". This script checks that no Snakemake process is alive in this directory
(Linux: /proc) and only then runs `snakemake --unlock`; if one is, it says which and leaves the
lock alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def snakemake_processes(directory: Path) -> list[tuple[int, str]]:
    """(pid, command line) of the Snakemake processes whose working directory is ``directory``."""
    here = directory.resolve()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        is_snakemake = any(Path(a).name == "snakemake" for a in args[:2]) or (
            "-m" in args and "snakemake" in args[args.index("-m") + 1 : args.index("-m") + 2]
        )
        if is_snakemake and cwd == here and int(proc.name) != os.getpid():
            found.append((int(proc.name), " ".join(args)))
    return found


def main() -> int:
    here = Path.cwd()
    alive = snakemake_processes(here)
    if alive:
        for pid, cmd in alive:
            print(f"Snakemake is still running in {here} (pid {pid}: {cmd})")
        print("Not unlocking: wait for it to finish, or stop it first (kill <pid>).")
        return 1
    if not (here / ".snakemake/locks").is_dir() or not any((here / ".snakemake/locks").iterdir()):
        print("no lock to remove")
        return 0
    print("no Snakemake process runs in this directory: removing the stale lock")
    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [str(snakemake)] if snakemake.exists() else [sys.executable, "-m", "snakemake"]
    snakefile = Path(__file__).resolve().parents[1] / "Snakefile"
    return subprocess.run([*cmd, "--unlock", "--snakefile", str(snakefile)]).returncode


if __name__ == "__main__":
    sys.exit(main())
