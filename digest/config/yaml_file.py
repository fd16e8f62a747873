"""Reading ``schedules.yaml``: UTF-8, YAML's safe subset, and bounds a config never needs.

A config file is small and shallow. Nesting deeper than :data:`MAX_DEPTH` is refused (the
composer would otherwise recurse into a RecursionError), and so is a document whose aliases
would expand it beyond :data:`MAX_VALUES` values: nine lines of aliases ("billion laughs")
make a title of 9**9 strings, which ``str()`` then spends half a minute turning into a
MemoryError. Every problem is one ConfigError line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from digest.errors import ConfigError

MAX_DEPTH = 32
MAX_VALUES = 100_000  # values of the document with every alias written out


class _Refused(Exception):
    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, counting how deep it nests and how far aliases expand."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) → its size with aliases expanded
        self._aliased = False

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            self._aliased = True
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self._sizes:
                raise _Refused("an alias refers to the value that holds it", line)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", line)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[id(node)] = size = 1 + sum(self._sizes[id(n)] for n in _children(node))
            if self._aliased and size > MAX_VALUES:
                raise _Refused(f"aliases expand it beyond {MAX_VALUES} values", line)
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def read_yaml(path: Path) -> Any:
    """The document in ``path`` ({} when empty), or one ConfigError line saying what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from None
    try:
        return yaml.load(text, Loader=_BoundedLoader) or {}
    except _Refused as exc:
        raise ConfigError(f"{path} line {exc.line}: refused: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}{line}: not valid YAML ({problem})") from exc
