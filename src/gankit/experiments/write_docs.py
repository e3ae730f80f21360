"""Write docs/claims.md from the figures' JSON files, so no number in it is typed by hand.

gankit figure --all --out docs/figures
python -m gankit.experiments.write_docs --figures docs/figures --out docs/claims.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gankit.errors import GankitError
from gankit.experiments import FIGURES

INTRO = """# The classic GAN claims, run and checked

Each section below is one well-known statement about GAN training, turned into an experiment that
trains on the CPU, draws the picture, and writes the numbers behind it. Every image and number here
was written by the command shown next to it; `tests/test_figures.py` asserts each claim on small,
fast settings (several seeds and medians where training noise could flip a result).

Each section names the exact command that produced its image and numbers (`--quick` marks the small
settings the tests use). To regenerate every figure at full size, then this file:

```
gankit figure --all --out {figures}
python -m gankit.experiments.write_docs --figures {figures} --out {out}
```
"""


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def section(record: dict, image: str) -> str:
    figure = FIGURES[record["figure"]]
    rows = "\n".join(f"| `{key}` | {_format(value)} |" for key, value in record["headline"].items())
    first = f"`{figure.prerequisite}` (the runs it draws), then " if figure.prerequisite else ""
    budget = record.get("settings", {}).get("budget")
    return (
        f"## `{figure.name}`: {figure.description}\n\n"
        f"![{figure.name}]({image})\n\n"
        + (f"Runs drawn: {budget}.\n\n" if budget else "")
        + f"Regenerate: {first}`{record['command']}` (seed {record['seed']}; numbers in "
        f"[`{figure.name}.json`]({Path(image).with_suffix('.json').as_posix()})).\n\n"
        f"**Claim.** {record['claim']}.\n\n"
        f"| measured | value |\n|---|---|\n{rows}\n\n"
        f"**Why.** {figure.explanation}\n"
    )


def write_claims(figures_dir: str | Path, out: str | Path) -> tuple[Path, list[str]]:
    """Build the markdown from ``figures_dir/NAME.json`` of every registered figure; atomic write.

    A registered figure with no JSON yet gets a line with the command that makes it (returned in the
    second value, so the caller can warn); with no JSON at all, nothing is written.
    """
    figures_dir, out = Path(figures_dir), Path(out)
    missing = [name for name in FIGURES if not (figures_dir / f"{name}.json").is_file()]
    if len(missing) == len(FIGURES):
        raise GankitError(f"no figure JSON in {figures_dir}; run: gankit figure --all --out {figures_dir}")
    image_dir = Path(os.path.relpath(figures_dir, out.parent))
    parts = [INTRO.format(figures=figures_dir.as_posix(), out=out.as_posix())]
    for name in FIGURES:
        if name in missing:
            figure = FIGURES[name]
            command = f"gankit figure {name} --out {figures_dir.as_posix()}"
            command = f"{figure.prerequisite}`, then `{command}" if figure.prerequisite else command
            why = f"\n**Why.** {figure.explanation}\n" if figure.prerequisite else ""
            parts.append(f"## `{name}`: {figure.description}\n\nNot generated yet: run `{command}`.\n{why}")
            continue
        record = json.loads((figures_dir / f"{name}.json").read_text())
        parts.append(section(record, (image_dir / f"{name}.png").as_posix()))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("\n".join(parts))
    os.replace(tmp, out)
    return out, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", default="docs/figures", help="directory of NAME.json/NAME.png")
    parser.add_argument("--out", default="docs/claims.md", help="markdown file to write")
    args = parser.parse_args(argv)
    try:
        path, missing = write_claims(args.figures, args.out)
    except GankitError as error:
        print(f"gankit: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    for name in missing:
        print(
            f"gankit: warning: {name} has no JSON in {args.figures}; its section says how to make it",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
