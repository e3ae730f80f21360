"""Regenerate the real example outputs in docs/doctor.md (and its plots) from the recipes there.

    .venv/bin/python scripts/doctor_examples.py            # all examples, a few minutes on a laptop CPU
    .venv/bin/python scripts/doctor_examples.py divergence # just one

Each example is a deliberately broken (or healthy) `gankit train` recipe followed by
`gankit doctor`. The script runs both commands exactly as docs/doctor.md shows them, from the
repository root, and replaces the text between ``<!-- BEGIN example NAME -->`` and
``<!-- END example NAME -->`` with the commands and what they printed. The doctor's plot goes to
docs/images/doctor-NAME.png. The thresholds table is rebuilt from TrainConfig's defaults and the
fields of gankit.diagnose.thresholds.Thresholds.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from gankit.config import MONITOR_KEY, TrainConfig
from gankit.diagnose.thresholds import Thresholds
from gankit.rundir import FINDINGS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "doctor.md"
RUNS = "runs/doctor-examples"
SMALL = "--width 32 --batch-size 64 --threads 1 --no-amp"  # fixed: no timing probe, same numbers anywhere

# name -> the `gankit train` flags of its recipe (the run directory is added by the script)
EXAMPLES = {
    "vanishing": f"--objective minimax --d-lr 0.01 --critic-steps 5 --steps 300 {SMALL} --log-every 10",
    "critic": f"--objective wgan-gp --gp-weight 0 --d-lr 0.001 --steps 200 {SMALL} --log-every 10",
    "collapse": f"--data mixture-1d --objective minimax --steps 600 {SMALL} --log-every 25 --eval-every 100",
    "divergence": f"--objective wgan-gp --optimizer sgd --g-lr 0.2 --d-lr 0.2 --steps 300 {SMALL} "
    "--log-every 10 --checkpoint-every 10",
    "stalled": f"--objective ns --g-lr 1e-6 --d-lr 1e-6 --steps 1500 {SMALL} --eval-every 100",
    "healthy": f"--data mixture-1d --objective ns --g-lr 1e-3 --d-lr 1e-3 --steps 600 {SMALL} "
    "--eval-every 100",
}


def run(command: str, allowed: tuple[int, ...] = (0,)) -> str:
    """Run a gankit command from the repository root; return what a user sees (stdout + stderr).
    ``allowed``: its exit codes that are not failures (train exits 1 when a finding stops it)."""
    gankit = str(Path(sys.executable).with_name("gankit"))
    result = subprocess.run(
        [gankit, *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode not in allowed:
        raise SystemExit(f"{command} failed ({result.returncode}):\n{result.stderr}")
    return (result.stderr + result.stdout).strip()


def example(name: str) -> str:
    out = f"{RUNS}/{name}"
    train = f"gankit train {EXAMPLES[name]} --sample-every 0 --out {out} --overwrite"
    doctor = f"gankit doctor {out} --plot docs/images/doctor-{name}.png"
    trained = run(train, allowed=(0, 1))
    diagnosed = run(doctor)
    return f"```console\n$ {train}\n{trained}\n\n$ {doctor}\n{diagnosed}\n```"


# The config keys around the thresholds; each threshold's meaning is its field's, in
# gankit.diagnose.thresholds (where a new threshold is added: its row appears here by itself)
MEANINGS = {
    "monitors": "run the live monitors (the doctor replays them either way)",
    "stop_on": "findings that stop training (`--stop-on a,b`); divergence always does",
}


def thresholds_table() -> str:
    lines = ["| config key | default | meaning |", "|---|---|---|"]
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "monitor":
            for threshold in fields(Thresholds):
                key, meaning = MONITOR_KEY + threshold.name, threshold.metadata["meaning"]
                lines.append(f"| `{key}` | `{threshold.default!r}` | {meaning} |")
        elif f.name in MEANINGS:
            lines.append(f"| `{f.name}` | `{getattr(defaults, f.name)!r}` | {MEANINGS[f.name]} |")
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"docs/doctor.md has no block {name!r}")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main(names: list[str]) -> None:
    (ROOT / "docs" / "images").mkdir(parents=True, exist_ok=True)
    text = replace_block(DOC.read_text(), "thresholds", thresholds_table())
    for name in names or list(EXAMPLES):
        print(f"example {name} ...", flush=True)
        text = replace_block(text, f"example {name}", example(name))
        DOC.write_text(text)
    findings = ROOT / RUNS / "vanishing" / FINDINGS
    if findings.exists():
        text = replace_block(text, "findings-format", f"```json\n{findings.read_text().strip()}\n```")
    DOC.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
