"""The import rules that keep the pipeline readable from ``ls digest/`` (README, "How it is
built"): nouns import only nouns; a stage imports nouns, never another stage; only the
composers (pipeline, schedule, web, cli) bring stages together, each only those below it.
A new import against these rules fails here, naming the module and the line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import digest.models
import digest.parse

PACKAGE = Path(__file__).resolve().parent.parent / "digest"

#: Records, errors and settings every part may use, each importing only those before it.
NOUNS = ("errors", "models", "config", "subscribers", "links", "logs", "windows")
#: One stage each; a stage imports nouns only.
STAGES = ("fetch", "parse", "rank", "render", "send", "store", "inbound")
#: What each composer may import besides the nouns and the stages (nothing above it).
COMPOSERS = {
    "pipeline": (),
    "schedule": ("pipeline",),
    "web": ("pipeline",),
    "cli": ("pipeline", "schedule", "web"),
}
#: Files of the package root that are not parts: the version and ``python -m digest``.
ROOT_FILES = {"": ("",), "__main__": ("cli",)}
SAMPLES_AND_TEMPLATES = ("samples", "templates")


def _part(module: str) -> str:
    """``digest.send.smtp`` -> ``send``; ``digest`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "relative import"))
        elif isinstance(node, ast.ImportFrom) and node.module == "digest":
            found += [(node.lineno, f"digest.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("digest."):
            found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("digest")]
    return found


def allowed(importer: str) -> tuple[str, ...]:
    """The parts ``importer`` may import, itself included."""
    if importer in ROOT_FILES:
        return ROOT_FILES[importer]
    if importer in NOUNS:
        return ("", *NOUNS[: NOUNS.index(importer) + 1])
    if importer in STAGES:
        return ("", importer, *NOUNS)
    return ("", importer, *NOUNS, *STAGES, *COMPOSERS[importer])


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("digest", *path.relative_to(PACKAGE).with_suffix("").parts))
        importer = _part(module.removesuffix(".__init__"))
        for line, target in _imports(path):
            if target == "relative import" or (
                target != "digest.USER_AGENT" and _part(target) not in allowed(importer)
            ):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {target}")
    return found


def test_every_part_of_the_package_has_a_place_in_the_rules() -> None:
    known = {*NOUNS, *STAGES, *COMPOSERS, *SAMPLES_AND_TEMPLATES}
    files = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert files | packages <= known, f"parts with no rule: {sorted((files | packages) - known)}"


def test_no_import_runs_against_the_pipeline() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("importer", "target", "ok"),
    [
        ("rank", "models", True),
        ("rank", "render", False),  # a stage never imports another stage
        ("config", "parse", False),  # a noun never imports a stage
        ("models", "config", False),  # nor a noun after it
        ("pipeline", "schedule", False),  # nothing imports upward
        ("web", "pipeline", True),
        ("cli", "web", True),
    ],
)
def test_the_rules_themselves(importer: str, target: str, ok: bool) -> None:
    assert (target in allowed(importer)) is ok


def test_the_parse_kinds_named_in_models_are_the_parsers() -> None:
    assert digest.parse.KINDS == digest.models.PARSE_KINDS
