"""The Binder (repo2docker) files parse, and every package they name is a project dependency.

CI never builds the Binder image; this only guards against the files drifting away from
pyproject.toml (a package renamed, dropped or added on one side only).
"""

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PINNED_TORCH = "2.13.0"


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_dependencies() -> dict:
    """Normalised name -> list of Requirement over the core dependencies and every extra."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    strings = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        strings += extra
    found = {}
    for text in strings:
        requirement = Requirement(text)
        found.setdefault(normalise(requirement.name), []).append(requirement)
    return found


def requirement_lines(path: Path) -> list:
    """The requirement lines of a pip requirements file (options and comments dropped)."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-"):
            continue
        lines.append(line)
    return lines


def options(path: Path) -> list:
    return [line.strip() for line in path.read_text().splitlines() if line.strip().startswith("-")]


def test_runtime_is_python_311():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


def test_requirements_parse_and_are_project_dependencies():
    dependencies = project_dependencies()
    lines = requirement_lines(BINDER / "requirements.txt")
    assert lines, "binder/requirements.txt names no package"
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:  # pragma: no cover - the assertion message is the point
            pytest.fail(f"binder/requirements.txt: {line!r} does not parse: {exc}")
        name = normalise(requirement.name)
        assert name in dependencies, (
            f"binder/requirements.txt names {requirement.name}, which is not a dependency in pyproject.toml"
        )


def test_torch_is_the_pinned_cpu_wheel():
    lines = {normalise(Requirement(line).name): Requirement(line) for line in requirement_lines(BINDER / "requirements.txt")}
    assert "torch" in lines
    assert lines["torch"].specifier == SpecifierSet(f"=={PINNED_TORCH}")
    # the project's own torch requirement must accept the pinned version
    for requirement in project_dependencies()["torch"]:
        assert requirement.specifier.contains(PINNED_TORCH), requirement
    index_options = [o for o in options(BINDER / "requirements.txt") if "index-url" in o]
    assert index_options and all("download.pytorch.org/whl/cpu" in o for o in index_options)


def test_postbuild_installs_the_project_with_known_extras_and_builds_no_lab_extension():
    text = (BINDER / "postBuild").read_text()
    assert text.startswith("#!/bin/bash")
    assert "jupyter lab build" not in text
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(data["project"]["optional-dependencies"])
    installs = [shlex.split(line) for line in text.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert installs, "postBuild installs nothing"
    editable = [arg for words in installs for arg in words if arg.startswith(".[") or arg == "."]
    assert editable, "postBuild must install the project itself (pip install -e .[...])"
    for arg in editable:
        named = set(re.findall(r"[\w-]+", arg[2:-1])) if arg.startswith(".[") else set()
        assert named <= extras, f"postBuild asks for unknown extras {named - extras}"
        assert {"notebooks", "ml"} <= named
    # any other package it names must be a project dependency too
    dependencies = project_dependencies()
    for words in installs:
        after = words[words.index("install") + 1:]
        skip_next = False
        for word in after:
            if skip_next:
                skip_next = False
                continue
            if word in ("--extra-index-url", "--index-url", "-r", "-c"):
                skip_next = True
                continue
            if word.startswith("-") or word.startswith("."):
                continue
            assert normalise(Requirement(word).name) in dependencies, f"postBuild installs {word}, not a project dependency"


def test_no_environment_yml_competes_with_requirements():
    # repo2docker picks environment.yml over requirements.txt; keep exactly one recipe
    assert not (BINDER / "environment.yml").exists()
    assert (BINDER / "requirements.txt").exists() and (BINDER / "postBuild").exists()
