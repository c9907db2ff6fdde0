"""Run ``vhdxray`` command lines in a fresh Python process, with a hang guard and a memory reading.

Hostile inputs must end quickly and in bounded memory. The tests do not time anything: the
subprocess timeout only stops a hang, and the peak resident memory comes from
``resource.getrusage`` inside the child (a bound on memory is not a timing assertion).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_RUNNER = """
import contextlib, io, json, resource, sys
from vhdxray.tui.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    text = io.StringIO()
    with contextlib.redirect_stderr(text), contextlib.redirect_stdout(text):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own exit on a bad argument
            code = exc.code if isinstance(exc.code, int) else 1
    out.append([code, text.getvalue()])
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:  # Linux: this process image's own high-water mark. ru_maxrss also holds the parent's
    # peak, folded in at exec when the parent started us with vfork (as subprocess does).
    with open("/proc/self/status") as status:
        peak_kib = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({"results": out, "peak_kib": peak_kib}))
"""

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Outcome:
    results: list[tuple[int, str]]  # (exit code, stdout + stderr) per command line
    peak_bytes: int  # the process's peak resident memory, all commands together


def run_main(commands: list[list[str]], *, timeout: float = 120) -> Outcome:
    """Run each command line through ``vhdxray.tui.cli.main`` in one new process."""
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=timeout,  # the hang guard
        cwd=ROOT,
        env={**os.environ, "VHDXRAY_DEBUG": ""},
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    return Outcome([(c, t) for c, t in doc["results"]], int(doc["peak_kib"]) * 1024)
