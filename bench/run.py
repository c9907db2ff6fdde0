"""Every performance goal of issue 9, measured against its peers in one run.

    python bench/run.py [--quick] [--runs N] [--write] [--use-current] [--only CASE ...]

Each case runs vhdxray and its peers (qemu-img; vhdiinfo and dissect.hypervisor where they
apply and are installed) as separate processes on the same files, interleaved, ``--runs``
times (``--quick``: 3, and the 10 GiB replay case once). For every tool it reports the minimum
and the median of wall time, CPU time (user + system) and peak RSS, and the ratios of
vhdxray's min and median to the reference peer's min and median. Wall time is taken around the
process; CPU time from ``os.wait4`` on it; peak RSS from GNU time's ``%M`` (``/usr/bin/time``)
when installed: ``wait4``'s own ``ru_maxrss`` would count this benchmark's memory, which the
child shares between fork and exec. The machine's load average is recorded before and after.
``--instructions`` adds one run of vhdxray, the reference peer and the floor under
``valgrind --tool=cachegrind``: instructions executed, which do not depend on the load.
The small-image cases also run ``bench/floor_check.py`` (the same reads in a plain script of
about thirty lines, with the interpreter that runs vhdxray): the floor for Python, which the
verdict compares vhdxray with as well.

By default vhdxray is installed from this checkout into a fresh virtual environment with a
normal ``pip install`` (compiled bytecode, no editable-install finder), as users get it;
``--use-current`` runs the ``vhdxray`` of the running interpreter instead. ``--write`` puts
the results into docs/PERFORMANCE.md between the ``bench_run`` markers. Nothing in the test
suite asserts a timing: speed lives here.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "PERFORMANCE.md"
START, END = "<!-- bench_run:start -->", "<!-- bench_run:end -->"
TIME = "/usr/bin/time"
DIRTY = ROOT.parent / "shared" / "images" / "real" / "qemu-iotest-dirtylog-10G-4M.vhdx.bz2"
FLOOR = "python floor: the same reads in ~30 lines"
FLOOR_SCRIPT = ROOT / "bench" / "floor_check.py"
MiB = 1 << 20


@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss: int  # KiB, 0 when unknown


@dataclass
class Tool:
    name: str
    cmd: list[str]
    prepare: Callable[[], None] | None = None  # untimed, before every run
    samples: list[Sample] = field(default_factory=list)
    instructions: int | None = None  # one run under cachegrind (--instructions)


@dataclass
class Case:
    key: str
    title: str
    goal: str
    wall_goal: float | None  # vhdxray / reference wall ratio
    rss_goal_mib: float | None
    tools: list[Tool]
    runs: int
    note: str = ""

    @property
    def ours(self) -> Tool:
        return self.tools[0]

    @property
    def reference(self) -> Tool:
        return self.tools[1]


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> Sample:
    use_time = os.path.exists(TIME)
    full = [TIME, "-f", "%M", *cmd] if use_time else cmd
    start = time.perf_counter()
    proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = 0
    if use_time:
        try:
            rss = int(err.decode(errors="replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            rss = 0
    return Sample(wall, usage.ru_utime + usage.ru_stime, rss)


def measure(case: Case) -> None:
    for _ in range(case.runs):
        for tool in case.tools:
            if tool.prepare is not None:
                tool.prepare()
            tool.samples.append(run_once(tool.cmd))


def count_instructions(case: Case) -> None:
    """One more run of vhdxray, the reference and the Python floor under cachegrind: user-space
    instructions executed, which do not depend on the machine's load (the wall ratios do)."""
    for tool in case.tools[:2] + [t for t in case.tools[2:] if t.name == FLOOR]:
        if tool.prepare is not None:
            tool.prepare()
        done = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                "--cachegrind-out-file=/dev/null",
                *tool.cmd,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")},
        )
        for line in done.stderr.splitlines():
            if "I refs:" in line or "I   refs:" in line:
                tool.instructions = int(line.split(":")[1].replace(",", "").strip())


# --- set-up -----------------------------------------------------------------------------------


def make_venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True, env=env)
    return python


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def sparse_copy(src: Readable, target: Path) -> None:
    """Write what ``src`` reads to ``target``, leaving holes where a MiB is all zeros."""
    zero = bytes(MiB)
    with open(target, "wb") as out:
        size = 0
        while data := src.read(MiB):
            if data == zero[: len(data)]:
                out.seek(len(data), os.SEEK_CUR)
            else:
                out.write(data)
            size += len(data)
        out.truncate(size)


def sparse_unpack_bz2(source: Path, target: Path) -> None:
    import bz2

    with bz2.open(source, "rb") as src:
        sparse_copy(src, target)


def copy_sparse(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    subprocess.run(["cp", "--sparse=always", str(source), str(target)], check=True)


# --- cases ------------------------------------------------------------------------------------


def build_cases(work: Path, python: Path, runs: int, quick: bool, only: set[str]) -> list[Case]:
    vx = [str(python), "-m", "vhdxray"]
    have_vhdiinfo = shutil.which("vhdiinfo") is not None
    dissect = work / "dissect-venv" / "bin" / "python"
    dissect_code = (
        "import sys; from dissect.hypervisor.disk.vhdx import VHDX; "
        "f = open(sys.argv[1], 'rb'); v = VHDX(f); v.size"
    )

    def peers(image: Path, floor: bool = False) -> list[Tool]:
        out = [Tool("qemu-img check", ["qemu-img", "check", "-f", "vhdx", str(image)])]
        if floor:
            out.append(Tool(FLOOR, [str(python), str(FLOOR_SCRIPT), str(image)]))
        if have_vhdiinfo:
            out.append(Tool("vhdiinfo", ["vhdiinfo", str(image)]))
        if dissect.exists():
            out.append(
                Tool("dissect.hypervisor (open)", [str(dissect), "-c", dissect_code, str(image)])
            )
        return out

    cases: list[Case] = []

    def want(key: str) -> bool:
        return not only or key in only

    if want("big32"):
        img = work / "64T-32M.vhdx"
        qemu_img("create", "-q", "-f", "vhdx", "-o", "block_size=32M", str(img), "64T")
        cases.append(
            Case(
                "big32",
                "`check --json`, 64 TiB sparse, 32 MiB blocks (2 Mi BAT entries, 16 MiB BAT)",
                "≤ 3× qemu-img check wall",
                3.0,
                None,
                [Tool("vhdxray check --json", [*vx, "check", "--json", str(img)]), *peers(img)],
                runs,
            )
        )
    if want("big1"):
        img = work / "64T-1M.vhdx"
        qemu_img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", str(img), "64T")
        cases.append(
            Case(
                "big1",
                "`check --json`, 64 TiB, 1 MiB blocks (64 Mi BAT entries, 512 MiB BAT)",
                "≤ 1× qemu-img check wall, ≤ 64 MiB peak",
                1.0,
                64,
                [Tool("vhdxray check --json", [*vx, "check", "--json", str(img)]), *peers(img)],
                runs,
            )
        )
    if want("noguest"):
        img = work / "64T-32M.vhdx"
        if not img.exists():
            qemu_img("create", "-q", "-f", "vhdx", "-o", "block_size=32M", str(img), "64T")
        small = work / "64M-noguest.vhdx"
        qemu_img("create", "-q", "-f", "vhdx", str(small), "64M")
        for image, what in ((img, "64 TiB sparse, 32 MiB blocks"), (small, "64 MiB empty")):
            cases.append(
                Case(
                    f"noguest-{image.stem}",
                    f"`check --json --no-guest`, {what} (the container only, no guest triage)",
                    "≤ 3× qemu-img check wall (the goal's case without the guest look)",
                    3.0,
                    None,
                    [
                        Tool(
                            "vhdxray check --json --no-guest",
                            [*vx, "check", "--json", "--no-guest", str(image)],
                        ),
                        *peers(image, floor=image == small),
                    ],
                    runs,
                )
            )
    if want("log256"):
        img = work / "1G-log256M.vhdx"
        qemu_img("create", "-q", "-f", "vhdx", "-o", "log_size=256M", str(img), "1G")
        cases.append(
            Case(
                "log256",
                "`check --json`, 1 GiB disk with a 256 MiB log",
                "≤ 3× qemu-img check wall, ≤ 64 MiB peak",
                3.0,
                64,
                [
                    Tool("vhdxray check --json", [*vx, "check", "--json", str(img)]),
                    *peers(img, floor=True),
                ],
                runs,
            )
        )
    if want("small"):
        img = work / "64M.vhdx"
        qemu_img("create", "-q", "-f", "vhdx", str(img), "64M")
        subprocess.run(
            ["qemu-io", "-f", "vhdx", "-c", "write -P 0x5a 0 24M", str(img)],
            check=True,
            capture_output=True,
        )
        for command in ("info", "check"):
            cases.append(
                Case(
                    f"small-{command}",
                    f"`{command} --json`, 64 MiB image with 24 MiB written",
                    "≤ 3× qemu-img check wall",
                    3.0,
                    None,
                    [
                        Tool(f"vhdxray {command} --json", [*vx, command, "--json", str(img)]),
                        *peers(img, floor=True),
                    ],
                    runs,
                )
            )
    if want("replay"):
        if DIRTY.exists():
            dirty = work / "dirty-10G.vhdx"
            sparse_unpack_bz2(DIRTY, dirty)
            ours_out = work / "replayed-by-vhdxray.vhdx"
            qemu_copy = work / "replayed-by-qemu.vhdx"
            cases.append(
                Case(
                    "replay",
                    "log replay into a copy, 10 GiB dirty image (qemu-iotest-dirtylog-10G-4M)",
                    "≤ 2× qemu-img check -r all on a copy",
                    2.0,
                    None,
                    [
                        Tool(
                            "vhdxray repair --output COPY --yes",
                            [*vx, "repair", str(dirty), "--output", str(ours_out), "--yes"],
                            prepare=lambda: ours_out.unlink(missing_ok=True),
                        ),
                        Tool(
                            "qemu-img check -r all (copy made untimed)",
                            ["qemu-img", "check", "-r", "all", "-f", "vhdx", str(qemu_copy)],
                            prepare=lambda: copy_sparse(dirty, qemu_copy),
                        ),
                        Tool(
                            "cp --sparse=always, then qemu-img check -r all (copy timed)",
                            [
                                "sh",
                                "-c",
                                'cp --sparse=always "$1" "$2" && '
                                'qemu-img check -r all -f vhdx "$2"',
                                "sh",
                                str(dirty),
                                str(qemu_copy),
                            ],
                            prepare=lambda: qemu_copy.unlink(missing_ok=True),
                        ),
                    ],
                    1 if quick else max(3, runs // 2),
                    "vhdxray's time includes writing the copy; the reference row's copy is made "
                    "before the clock starts, the third row's (cp) is timed.",
                )
            )
        else:
            print(f"skipping the replay case: {DIRTY} is absent", file=sys.stderr)
    if want("import"):
        cases.append(
            Case(
                "import",
                "importing the check path (`vhdxray.core.analysis.reader`, `.jsonout`) "
                "vs `python -c pass`",
                "no Textual, no Rich, ≤ 15 ms over the bare interpreter",
                None,
                None,
                [
                    Tool(
                        "import check path",
                        [
                            str(python),
                            "-c",
                            "import sys, vhdxray.core, vhdxray.core.analysis.reader, "
                            "vhdxray.core.analysis.jsonout; "
                            "assert not any(m.split('.')[0] in ('textual', 'rich') "
                            "for m in sys.modules)",
                        ],
                    ),
                    Tool("python -c pass", [str(python), "-c", "pass"]),
                    Tool("import vhdxray.core", [str(python), "-c", "import vhdxray.core"]),
                    Tool("python -I -c pass (floor)", [str(python), "-I", "-c", "pass"]),
                    Tool("python -S -c pass (no site)", [str(python), "-S", "-c", "pass"]),
                ],
                runs,
            )
        )
    return cases


# --- first paint (delegates to bench/tui_startup.py's probe) -----------------------------------

BARE = r"""
import os
from textual.app import App, ComposeResult
from textual.widgets import Footer

class Bare(App[None]):
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self) -> ComposeResult:
        yield Footer()
    def on_ready(self) -> None:
        os.write(1, b"READY\n")
        self.exit()

Bare().run(headless=True, size=(120, 40))
"""

PROBE = r"""
import os, sys
from pathlib import Path
from vhdxray.tui.app import VhdxrayApp

class Probe(VhdxrayApp):
    def on_ready(self) -> None:
        os.write(1, b"READY\n")
        self.exit()

Probe(Path(sys.argv[1])).run(headless=True, size=(120, 40))
"""


def first_paint(python: Path, code: str, args: list[str]) -> Sample:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(python), "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    wall = time.perf_counter() - start
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if line.strip() != b"READY":
        raise RuntimeError("the first-paint probe did not report ready")
    return Sample(wall, usage.ru_utime + usage.ru_stime, 0)


def paint_case(work: Path, python: Path, runs: int) -> Case:
    img = work / "64T-32M.vhdx"
    if not img.exists():
        qemu_img("create", "-q", "-f", "vhdx", "-o", "block_size=32M", str(img), "64T")
    ours = Tool("vhdxray IMAGE (headless, to Ready)", [str(python), "-c", PROBE, str(img)])
    bare = Tool("bare Textual app with a Footer", [str(python), "-c", BARE])
    case = Case(
        "paint",
        "app first paint on the 64 TiB image (headless, spawn → Textual's Ready)",
        "≤ 1.2× a bare Textual app with a Footer",
        1.2,
        None,
        [ours, bare],
        runs,
        "CPU time covers the whole process (it exits right after Ready); no RSS measured here.",
    )
    for _ in range(runs):
        ours.samples.append(first_paint(python, PROBE, [str(img)]))
        bare.samples.append(first_paint(python, BARE, []))
    return case


# --- report -----------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def stats(tool: Tool) -> tuple[float, float, float, float, int, int]:
    walls = [s.wall for s in tool.samples]
    cpus = [s.cpu for s in tool.samples]
    rss = [s.rss for s in tool.samples]
    return (
        min(walls),
        statistics.median(walls),
        min(cpus),
        statistics.median(cpus),
        min(rss),
        int(statistics.median(rss)),
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "–"


def verdict(case: Case) -> str:
    if case.key == "import":
        ours, bare, core = (stats(t) for t in case.tools[:3])
        # CPU time: on a shared machine wall time is mostly waiting for a core.
        over_min, over_med = ours[2] - bare[2], ours[3] - bare[3]
        core_min, core_med = core[2] - bare[2], core[3] - bare[3]
        met = core_med <= 0.015
        return (
            f"`import vhdxray.core` costs {ms(core_min)} / {ms(core_med)} ms of CPU (min / "
            f"median) over the bare interpreter, goal ≤ 15 ms: **{'met' if met else 'not met'}**; "
            f"the whole check path's imports {ms(over_min)} / {ms(over_med)} ms; "
            "no Textual or Rich (asserted in the child)"
        )
    o, r = stats(case.ours), stats(case.reference)
    parts = []
    if case.wall_goal is not None:
        rmin, rmed = o[0] / r[0], o[1] / r[1]
        state = (
            "met"
            if rmed <= case.wall_goal
            else ("met at min only" if rmin <= case.wall_goal else "not met")
        )
        goal = f"goal ≤ {case.wall_goal:g}×"
        parts.append(f"wall {rmin:.2f}× / {rmed:.2f}× (min / median), {goal}: **{state}**")
        cmin, cmed = o[2] / r[2], o[3] / r[3]
        parts.append(f"CPU {cmin:.2f}× / {cmed:.2f}× (min / median)")
    floor = next((t for t in case.tools if t.name == FLOOR), None)
    if floor is not None:
        f = stats(floor)
        parts.append(
            f"against the Python floor: wall {o[0] / f[0]:.2f}× / {o[1] / f[1]:.2f}×, "
            f"CPU {o[2] / f[2]:.2f}× / {o[3] / f[3]:.2f}× (min / median); the floor itself is "
            f"{f[0] / r[0]:.2f}× / {f[1] / r[1]:.2f}× qemu-img's wall"
        )
    mine, theirs = case.ours.instructions, case.reference.instructions
    if mine and theirs:
        parts.append(
            f"instructions {mine / 1e6:.1f} M against {theirs / 1e6:.1f} M, "
            f"{mine / theirs:.2f}× (cachegrind, one run each; independent of the load)"
        )
        if floor is not None and floor.instructions:
            parts.append(
                f"the floor {floor.instructions / 1e6:.1f} M instructions, vhdxray "
                f"{mine / floor.instructions:.2f}× the floor"
            )
    if case.rss_goal_mib is not None and o[5]:
        peak = max(s.rss for s in case.ours.samples) / 1024
        state = "met" if peak <= case.rss_goal_mib else "not met"
        parts.append(
            f"peak RSS {peak:.1f} MiB (max of runs), goal ≤ {case.rss_goal_mib:g} MiB: **{state}**"
        )
    return "; ".join(parts)


def render(cases: list[Case], header: str) -> str:
    lines = [header, ""]
    for case in cases:
        ref = stats(case.reference)
        lines += [f"### {case.title}", "", f"Goal: {case.goal}. Result: {verdict(case)}.", ""]
        if case.note:
            lines += [case.note, ""]
        lines += [
            "| tool | wall min | wall median | cpu min | cpu median | peak RSS median | "
            f"wall × {case.reference.name} (min / median) | cpu × (min / median) | RSS × |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for tool in case.tools:
            s = stats(tool)
            rss = f"{s[5] / 1024:.1f} MiB" if s[5] else "–"
            rss_ratio = ratio(s[5], ref[5]) if s[5] and ref[5] else "–"
            lines.append(
                f"| {tool.name} | {ms(s[0])} ms | {ms(s[1])} ms | {ms(s[2])} ms | {ms(s[3])} ms | "
                f"{rss} | {ratio(s[0], ref[0])} / {ratio(s[1], ref[1])} | "
                f"{ratio(s[2], ref[2])} / {ratio(s[3], ref[3])} | {rss_ratio} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    if START in doc and END in doc:
        before, rest = doc.split(START, 1)
        _, after = rest.split(END, 1)
        doc = f"{before}{START}\n{text}\n{END}{after}"
    else:
        doc = f"{doc.rstrip()}\n\n{START}\n{text}\n{END}\n"
    DOC.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=None, help="repetitions (default 7, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 runs, the replay case once")
    parser.add_argument("--write", action="store_true", help="update docs/PERFORMANCE.md")
    parser.add_argument("--use-current", action="store_true", help="use this interpreter's vhdxray")
    parser.add_argument(
        "--no-dissect", action="store_true", help="do not pip-install dissect.hypervisor"
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=[],
        help="cases to run: big32 big1 noguest log256 small replay import paint",
    )
    parser.add_argument("--workdir", help="where to make the images (default: a temporary folder)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions under valgrind (one run of each tool; slow)",
    )
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    only = set(args.only)
    if args.instructions and shutil.which("valgrind") is None:
        print("--instructions needs valgrind", file=sys.stderr)
        return 1
    for tool in ("qemu-img", "qemu-io"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed for the peers and the images", file=sys.stderr)
            return 1
    work_parent = Path(args.workdir) if args.workdir else None
    with tempfile.TemporaryDirectory(prefix="vhdxray-bench-", dir=work_parent) as tmp:
        work = Path(tmp)
        python = Path(sys.executable) if args.use_current else make_venv(work / "venv")
        if not args.no_dissect:
            dvenv = work / "dissect-venv"
            subprocess.run([sys.executable, "-m", "venv", str(dvenv)], check=True)
            done = subprocess.run(
                [str(dvenv / "bin" / "python"), "-m", "pip", "install", "-q", "dissect.hypervisor"],
                capture_output=True,
            )
            if done.returncode:
                print("dissect.hypervisor could not be installed; left out", file=sys.stderr)
                shutil.rmtree(dvenv)
        load_before = os.getloadavg()
        cases = build_cases(work, python, runs, args.quick, only)
        for case in cases:
            print(f"measuring {case.key} ({case.runs} runs) …", file=sys.stderr)
            measure(case)
        if not only or "paint" in only:
            print(f"measuring paint ({runs} runs) …", file=sys.stderr)
            cases.append(paint_case(work, python, runs))
        if args.instructions:
            for case in cases:
                if case.key != "import":
                    print(f"counting the instructions of {case.key} …", file=sys.stderr)
                    count_instructions(case)
        load_after = os.getloadavg()
        qemu_version = subprocess.run(
            ["qemu-img", "--version"], capture_output=True, text=True
        ).stdout.splitlines()[0]
    header = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python bench/run.py"
        f"{' --quick' if args.quick else ''}{f' --runs {args.runs}' if args.runs else ''}"
        f"{' --instructions' if args.instructions else ''}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{qemu_version}. Load average (1, 5, 15 min) {', '.join(f'{x:.2f}' for x in load_before)} "
        f"before and {', '.join(f'{x:.2f}' for x in load_after)} after: the machine is shared, so "
        "compare the ratios (each tool ran interleaved with its peers), not the absolute times."
    )
    text = render(cases, header)
    print(text)
    if args.write:
        write_doc(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
