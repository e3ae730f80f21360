"""Which image regularisers pay on digits? A fair 2x2x2 factorial, measured like benchmarks/images.py.

Around the non-saturating GAN (ns, batch-norm D, the DCGAN networks of gankit/nets/dcgan.py):
spectral normalisation of D (on/off) x DiffAugment (translation, cutout, colour: on/off) x an R1
penalty on real digits (on/off) -- eight recipes, each measured with benchmarks/images.py's protocol,
its record kept in journals under benchmarks/journals/ (images_recipes*.journal for the searches,
images_seeds_<recipe>.journal for the report seeds and their test scores):

1. Search: benchmarks/specs/images_recipes.toml (no R1) and images_recipes_r1.toml (R1, its weight
   gamma searched too) give every recipe 40 configurations of its learning rates, 10 random then
   TPE, each trained for 300 CPU-seconds (``time_budget_s``: a costlier update -- R1's double
   backward, SN's power iteration -- buys fewer updates, not more compute) with the tuning seed 0,
   its validation FID evaluated every 250 steps and cut by successive halving.
2. Report seeds: each recipe's best configuration (lowest validation FID) on 5 report seeds
   (100..104); in every run the checkpoint with the lowest validation FID is chosen and only it is
   scored on the test part, once.
3. Page (docs/benchmarks/images_regularisers.md): the recipes whose report seeds' validation FID
   settled, ranked by test FID; the others as curves; each search's cost and whether it flattened.

Cost, measured with one thread on the loaded 2-core machine: a generator step costs about 20 ms of
CPU for plain ns and 35 ms with SN, DiffAugment and R1 together (8,500-15,000 steps in the budget); a
full trial is 300 CPU-s of training plus ~5 % evaluations, ~320 s (the longest about 6 CPU-minutes).
Successive halving (cuts at 500, 1,500, 4,500 and 13,500 steps) makes 40 configurations cost about 6-8
full trials, and the 5 seeds add 5: 8 recipes x ~13 full trials x 320 s = about 9 CPU-hours; with
--workers 2 on two free cores about 5 hours.

    nice -n 10 python benchmarks/images_regularisers.py --workers 2   # run or continue, write the page
    python benchmarks/images_regularisers.py --render                  # the page from the journals alone
    python benchmarks/images_regularisers.py --quick                   # smoke test (temp journals)

Stopped (Ctrl-C, SIGTERM), the same command continues; finished trials are never run again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tomllib
from images import QUICK_HELP, arguments, arms_table, measure, test_row
from journaled import guarded, page_head, plot_search, search_lines, seeds_text
from mode_coverage import params_text

ROOT = Path(__file__).resolve().parents[1]
SPECS = [ROOT / "benchmarks" / "specs" / f"images_recipes{suffix}.toml" for suffix in ("", "_r1")]
PLAIN = "ns"  # the recipe every other one is measured against: today's image GAN
EXPECTED_CPU_HOURS = 9  # see the module docstring
QUICK_GRID = {"spectral_norm": [False, True], "augment": [[]]}  # --quick: ns, ns + SN, ns + R1, ns + SN + R1
PREFIX = "images_recipes"  # journals: images_recipes{,_r1}.journal, images_recipes_seeds_<recipe>.journal


def recipe_label(values: dict) -> str:
    """'ns', 'ns + SN', 'ns + SN + R1 + DiffAugment', ... from a cell's config values (an R1 recipe's
    gamma is searched: True in the values read_cells passes)."""
    parts = [values["objective"]]
    parts += ["SN"] if values.get("spectral_norm") else []
    parts += ["R1"] if values.get("r1_gamma") else []
    parts += ["DiffAugment"] if values.get("augment") else []
    return " + ".join(parts)


def render(cells, specs, args, journals: Path) -> str:
    first = tomllib.loads(specs[0][1])
    base = first["base"]
    table, ranked = arms_table(cells, journals, PREFIX, "recipe")
    fid = {cell.label: test_row(tests, "fid") for cell, tests, _ in ranked}
    verdict = "The plain `ns` arm has not settled (or not finished): no recipe is compared with it yet."
    if PLAIN in fid:
        better = [label for label in fid if label != PLAIN and _below(fid[label], fid[PLAIN])]
        worse = [label for label in fid if label != PLAIN and _below(fid[PLAIN], fid[label])]
        verdict = (
            "Clearly better than plain `ns` (the whole interval of the mean test FID below ns's): "
            + (", ".join(f"**{label}**" for label in better) if better else "none")
            + "; clearly worse: "
            + (", ".join(worse) if worse else "none")
            + ". The other settled recipes' intervals overlap ns's: the table does not tell them apart."
        )
    command = "python benchmarks/images_regularisers.py"
    title = "Image regularisers on digits"
    lines = page_head(title, command, journals, EXPECTED_CPU_HOURS, cells, args.seeds)
    lines += [
        "Protocol: the one of [images.md](images.md) (Lucic et al. 2018: equal budget, the same search for"
        " every contender, report seeds apart from the tuning seed, a held-out test part), applied to"
        " eight recipes:",
        "",
        f"- **Recipes.** The non-saturating GAN (`ns`; batch-norm D) with the DCGAN networks (width"
        f" {base['width']}), batch {base['batch_size']}, one thread, fp32, and every combination of"
        " spectral normalisation of D (SN: then D has no batch norm), DiffAugment on D's inputs, real and"
        " fake alike (translation, cutout, color) and an R1 penalty on real digits (`r1_gamma`).",
        f"- **Equal budget.** Every run stops after {base['time_budget_s']} s of training CPU time; R1's"
        " double backward or SN's power iteration costs generator steps, not extra compute (the table"
        " gives both).",
        f"- **Search.** {first['trials']} configurations per recipe over g_lr and d_lr in [1e-5, 1e-2] (log)"
        " and, for the R1 recipes, gamma in [0.01, 10] (log); the first"
        f" {first['n_startup_trials']} at random, then TPE; validation FID every {base['eval_every']}"
        " steps, cut by successive halving; a trial's score is its last validation FID.",
        f"- **Seeds.** {seeds_text(cells)}",
        "- **Checkpoint and test.** In each report run the checkpoint with the lowest validation FID is"
        " chosen and only it is scored on the test part. **Settled**: as images.md (the report seeds'"
        " validation FID over the last quarter of their steps); an arm not settled is a curve, not a rank.",
        "",
        *table,
        "## What it shows",
        "",
        f"- {verdict}",
        f"- {validation_choice(cells)}",
        "",
        *search_lines(cells, "minimize", "fid", "images_regularisers_search.png"),
        "What it cannot show: one data set of 8x8 digits, one network size and one CPU budget; R1 is"
        " computed on every D update (lazy R1, `r1_every`, would buy more updates in the same time and is"
        " not measured); the augmentation policy is fixed, not searched. DiffAugment was designed for"
        " small data, and 900 training digits is small, but its gains in the paper are on larger images."
        " The FID uses the shipped digit feature network, not Inception: compare the rows with each other,"
        " not with published FIDs.",
    ]
    return "\n".join(lines) + "\n"


def validation_choice(cells) -> str:
    """The recipe the `digits` preset would take, chosen on validation FID alone (the searches' best
    trials at the tuning seed; the report seeds and the test part choose nothing)."""
    if any(cell.best is None or len(cell.finished) < cell.trials for cell in cells):
        return "The recipe for the `digits` preset is chosen on validation once every search has finished."
    best = min(cells, key=lambda cell: cell.best["value"])
    keys = {key: value for key, value in best.best["cell"].items() if value}
    extra = ", ".join(f"{key} = {json.dumps(value)}" for key, value in keys.items()) or "nothing more"
    return (
        f"**Chosen on validation:** {best.label} ({params_text(best.best['params'])}) has the lowest"
        f" validation FID of every search, {best.best['value']:.3g}. If it is also below the `digits`"
        " preset's choice in [images.md](images.md) (plain ns or WGAN-GP, chosen the same way), the"
        f" preset in `src/gankit/presets.py` takes its searched values above and {extra}."
    )


def _below(row: dict, other: dict) -> bool:
    return None not in (row["ci_high"], other["ci_low"]) and row["ci_high"] < other["ci_low"]


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv, "images-regularisers", __doc__, "4 recipes without DiffAugment, " + QUICK_HELP)

    def body() -> None:
        specs, cells = measure(args, SPECS, recipe_label, PREFIX, QUICK_GRID)
        cells.sort(key=lambda cell: (len(cell.label), cell.label))
        args.page.parent.mkdir(parents=True, exist_ok=True)
        plot_search(cells, "minimize", "FID", args.page.parent / "images_regularisers_search.png")
        args.page.write_text(render(cells, specs, args, args.journals))
        print(f"wrote {args.page}")

    guarded(body, lambda: args.journals)


if __name__ == "__main__":
    main(sys.argv[1:])
