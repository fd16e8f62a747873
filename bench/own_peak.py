"""A command's own peak RSS and CPU time, measured by a small parent.

Linux carries the forking process's peak RSS into its child: ``execve`` sets the new
program's peak (``ru_maxrss``) to at least the high-water mark of the address space it
replaces, which after ``fork`` is a copy of the parent's. So every ``digest send`` that a
benchmark holding 100,000 readers starts reports the benchmark's own size as its peak if
the benchmark reads it with ``wait4`` or ``RUSAGE_CHILDREN`` (measured on 2026-12-03: a
sender whose own RSS never passed 126 MB reported the benchmark's 134 MB).

This module is that small parent: ``python -I bench/own_peak.py REPORT COMMAND...`` forks,
runs COMMAND, waits for it and writes ``<peak RSS in KB> <CPU seconds>`` to REPORT; its exit
status is COMMAND's. :func:`wrapped` builds that command line, :func:`read` reads REPORT.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def wrapped(command: list[str], report: Path) -> list[str]:
    """``command`` run under this module, its figures written to ``report``."""
    return [sys.executable, "-I", str(Path(__file__).resolve()), str(report), *command]


def read(report: Path) -> tuple[int, float]:
    """The peak RSS in KB and the CPU seconds a wrapped command used."""
    peak, cpu = report.read_text().split()
    return int(peak), float(cpu)


def main(report: str, command: list[str]) -> int:
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(child, 0)
    Path(report).write_text(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
