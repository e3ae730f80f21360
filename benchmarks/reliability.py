"""The fault-injection campaign behind the figures of docs/reliability.md.

Runs gankit's reliability tests with every injected fault and every generated input recorded
($GANKIT_RELIABILITY_LOG, see tests/reliability_helpers.py), the SIGKILL test several times (each
kill lands at a different step) and the hypothesis fuzz tests with more examples than `make test`
uses; then rewrites the figures block of docs/reliability.md. Nothing is written if a test fails.

    python benchmarks/reliability.py                                # 5 kills, 100 examples per fuzz test
    python benchmarks/reliability.py --kills 2 --fuzz-examples 30   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- figures: begin (benchmarks/reliability.py) -->", "<!-- figures: end -->"
TESTS = [
    "tests/test_checkpoint.py",
    "tests/test_resume.py",
    "tests/test_signals.py",
    "tests/test_fuzz_cli.py",
]
FUZZ_KINDS = ("train flags", "config file", "odd path", "sample arguments")


def run_tests(args: list[str], log: Path, fuzz_examples: int) -> None:
    env = os.environ | {"GANKIT_RELIABILITY_LOG": str(log), "GANKIT_FUZZ_EXAMPLES": str(fuzz_examples)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    print("$", " ".join(command[2:]), flush=True)
    if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
        sys.exit("a reliability test failed: figures not written")


def recovered(facts: dict) -> bool:
    """A fault is handled when every yes/no fact says so (and the crafted file's code never ran)."""
    return not facts.get("code_ran", False) and all(
        value for key, value in facts.items() if isinstance(value, bool) and key != "code_ran"
    )


def figures(records: list[dict], kills: int, fuzz_examples: int) -> str:
    faults, inputs = defaultdict(list), defaultdict(list)
    for entry in records:
        kind = entry.pop("kind")
        (inputs if kind in FUZZ_KINDS else faults)[kind].append(entry)

    lines = [
        f"Command: `python benchmarks/reliability.py --kills {kills} --fuzz-examples {fuzz_examples}`",
        "",
        "| fault injected | times | handled | logged steps missing | logged steps duplicated |",
        "|---|---|---|---|---|",
    ]
    for kind, entries in sorted(faults.items()):
        missing = sum(e.get("rows_missing", 0) for e in entries)
        duplicated = sum(e.get("rows_duplicated", 0) for e in entries)
        handled = sum(recovered(e) for e in entries)
        lines.append(f"| {kind} | {len(entries)} | {handled}/{len(entries)} | {missing} | {duplicated} |")
    total = sum(len(e) for e in faults.values())
    handled = sum(recovered(e) for entries in faults.values() for e in entries)
    lines += ["", f"**Faults injected: {total}; handled: {handled}.**", ""]

    kills_seen = sorted(
        (e["last_row_before_kill"], e["resumed_from"])
        for e in faults.get("SIGKILL", [])
        if "resumed_from" in e
    )
    if kills_seen:
        lost = sum(e["rows_missing"] for e in faults["SIGKILL"]) + sum(
            not e["bit_identical"] for e in faults["SIGKILL"]
        )
        points = ", ".join(f"{row} -> {step}" for row, step in kills_seen)
        lines += [
            f"SIGKILL points (last logged step -> checkpoint resumed from): {points}. Runs that ended "
            f"bit-identical to the uninterrupted one: {sum(e['bit_identical'] for e in faults['SIGKILL'])}"
            f"/{len(faults['SIGKILL'])}; **steps lost: {lost}**.",
            "",
        ]

    lines += [
        "| generated input | tried | ran | refused: exit 2, one line | anything else |",
        "|---|---|---|---|---|",
    ]
    for kind in FUZZ_KINDS:
        codes = [e["code"] for e in inputs.get(kind, [])]
        other = sum(code not in (0, 2) for code in codes)
        lines.append(f"| {kind} | {len(codes)} | {codes.count(0)} | {codes.count(2)} | {other} |")
    tried = sum(len(v) for v in inputs.values())
    lines += ["", f"**Bad or odd inputs tried: {tried}; tracebacks: 0; half-written run directories: 0.**"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=5, help="How many times the SIGKILL test runs.")
    parser.add_argument("--fuzz-examples", type=int, default=100, help="hypothesis examples per fuzz test.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "faults.jsonl"
        run_tests(TESTS, log, options.fuzz_examples)
        for _ in range(options.kills - 1):
            run_tests(["tests/test_resume.py", "-k", "sigkill"], log, options.fuzz_examples)
        records = [json.loads(line) for line in log.read_text().splitlines()]
    block = figures(records, options.kills, options.fuzz_examples)
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + block + "\n" + text[end:])
    print(block)


if __name__ == "__main__":
    main()
