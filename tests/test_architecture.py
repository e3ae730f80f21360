"""The layers of docs/architecture.md, checked on the source: imports go one way, top to bottom."""

import ast
from pathlib import Path

import gankit

PACKAGE = Path(gankit.__file__).parent

# Each layer may import only the layers listed for it (its own modules always).
ALLOWED = {
    "base": set(),  # errors, rundir: the run-directory contract every reader uses; stats
    "model": {"base", "model"},  # config, presets, objectives, data, nets, augment
    "engine": {"base", "model"},
    "measure": {"base", "model", "engine", "measure"},  # metrics, diagnose, report, refine
    "runs": {"base", "model", "engine", "measure"},
    "figures": {"base", "model", "engine", "measure", "runs"},  # experiments
    "top": {"base", "model", "engine", "measure", "runs", "figures"},  # cli, api, demo: thin layers
}
# Every module and package at the top of src/gankit, placed by what it imports: a new one fails
# test_lower_layers_never_import_higher_ones until it is placed here.
LAYER_OF = {
    "errors": "base",
    "rundir": "base",  # a package: its own modules are placed in RUNDIR below
    "stats": "base",  # intervals, summaries, the budget rules: plain numbers (numpy, scipy), no gankit import
    "config": "model",
    "presets": "model",  # plain data (the named recipes); config imports it
    "objectives": "model",
    "data": "model",
    "nets": "model",
    "augment": "model",
    "engine": "engine",
    "metrics": "measure",
    "diagnose": "measure",
    "report": "measure",
    "refine": "measure",  # D-based sampling refinement: data and objectives; metrics and eval use it
    "runs": "runs",
    # the classic figures train through runs.assemble (vae_vs_gan), so they sit above runs
    "experiments": "figures",
    "cli": "top",  # parses flags and calls every layer below
    "api": "top",  # the notebook API: the same, from keyword arguments
    "demo": "top",  # trains and plots through runs, metrics and report
    "__main__": "top",  # `python -m gankit`: the CLI, and a torchrun rank's exit (engine.distributed)
    "__init__": "top",  # re-exports the API
}


# The modules of gankit.rundir, in the order they may import one another: each imports only
# gankit.errors and the modules before it (files.py, the names, imports nothing of gankit).
RUNDIR = ["files", "io", "readers", "checkpoint", "findings", "writer", "__init__"]
# The names of a run directory's files: spelled only in rundir/files.py, imported from there.
RUN_DIR_FILES = {"config.json", "metrics.jsonl", "findings.jsonl", "live.json", "eval.json", "trial.json"}
RUN_DIR_FILES |= {"report.html", "doctor.png", ".lock"}


def _top_level_names(package: Path) -> set[str]:
    """The modules and packages directly under ``package`` (assets and caches are not code)."""
    return {
        path.name.removesuffix(".py")
        for path in package.iterdir()
        if (path.suffix == ".py" and path.is_file()) or (path / "__init__.py").is_file()
    }


def _imports(path: Path) -> set[str]:
    """The gankit top-level names a module imports (at module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gankit."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "gankit":
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("gankit."))
    return names


def _violations(package: Path, layer_of: dict[str, str]) -> list[str]:
    """Modules whose top-level name has no layer, and imports that go up a layer."""
    unplaced = sorted(_top_level_names(package) - set(layer_of))
    violations = [
        f"{name} has no layer: place it in LAYER_OF (tests/test_architecture.py)" for name in unplaced
    ]
    for path in sorted(package.rglob("*.py")):
        top = path.relative_to(package).parts[0].removesuffix(".py")
        layer = layer_of.get(top)
        if layer is None or path.name == "commands.py":  # the CLI and API side: may import anything
            continue
        for name in _imports(path):
            other = layer_of.get(name)
            if other is None:
                violations.append(f"{path.relative_to(package)} imports gankit.{name}, which has no layer")
            elif other != layer and other not in ALLOWED[layer]:
                violations.append(f"{path.relative_to(package)} ({layer}) imports gankit.{name} ({other})")
    return violations


def test_lower_layers_never_import_higher_ones():
    violations = _violations(PACKAGE, LAYER_OF)
    assert not violations, "\n".join(violations)


def test_the_check_fails_on_an_unplaced_module_and_on_an_upward_import(tmp_path):
    (tmp_path / "errors.py").write_text("from gankit.engine.loop import Trainer\n")  # base -> engine
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "__init__.py").write_text("")
    (tmp_path / "newcomer.py").write_text("")
    assert _violations(tmp_path, LAYER_OF) == [
        "newcomer has no layer: place it in LAYER_OF (tests/test_architecture.py)",
        "errors.py (base) imports gankit.engine (engine)",
    ]


def test_the_engine_holds_no_run_assembly():
    # The callbacks that wire evaluation, plots and monitors into a run live in gankit.runs.
    assert not (PACKAGE / "engine" / "run.py").exists()
    assert (PACKAGE / "runs" / "assemble.py").is_file()


def _rundir_violations(folder: Path) -> list[str]:
    """Modules of gankit.rundir that are not in RUNDIR, and imports against its order."""
    modules = sorted(path.stem for path in folder.glob("*.py"))
    violations = [f"rundir/{name}.py is not placed in RUNDIR" for name in modules if name not in RUNDIR]
    for name in modules:
        allowed = set(RUNDIR[: RUNDIR.index(name)]) if name in RUNDIR else set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gankit.")):
                continue
            parts = node.module.split(".")
            earlier = parts[1] == "rundir" and len(parts) > 2 and parts[2] in allowed
            if not (earlier or parts[1] == "errors"):
                violations.append(f"rundir/{name}.py imports {node.module}")
    return violations


def test_the_run_directory_package_imports_in_one_direction():
    violations = _rundir_violations(PACKAGE / "rundir")
    assert not violations, "\n".join(violations)


def test_the_rundir_check_fails_on_an_unplaced_module_and_on_an_import_against_the_order(tmp_path):
    (tmp_path / "files.py").write_text("from gankit.rundir.io import dumps\n")
    (tmp_path / "io.py").write_text("from gankit.config import TrainConfig\n")
    (tmp_path / "newcomer.py").write_text("")
    assert _rundir_violations(tmp_path) == [
        "rundir/newcomer.py is not placed in RUNDIR",
        "rundir/files.py imports gankit.rundir.io",
        "rundir/io.py imports gankit.config",
    ]


def test_run_directory_file_names_are_spelled_only_in_rundir_files():
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "rundir" / "files.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in RUN_DIR_FILES:
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert not spelled, "import these names from gankit.rundir:\n" + "\n".join(spelled)
    files = (PACKAGE / "rundir" / "files.py").read_text()
    assert all(f'"{name}"' in files for name in RUN_DIR_FILES)


def test_a_monitor_threshold_has_one_home():
    # A new threshold is one field of gankit.diagnose.thresholds.Thresholds (its default, range and
    # meaning); the config keeps the values by name, and docs/doctor.md's table is written from there.
    from dataclasses import fields

    from gankit.config import FIELD_NAMES
    from gankit.diagnose.thresholds import RANGES, Thresholds

    assert not [name for name in FIELD_NAMES if name.startswith("monitor_")]
    for threshold in fields(Thresholds):
        assert threshold.metadata["meaning"] and threshold.metadata["must_be"] in RANGES, threshold.name
    monitors = (PACKAGE / "diagnose" / "monitors.py").read_text()
    assert "config.monitor" not in monitors  # the monitors read self.thresholds
