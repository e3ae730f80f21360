"""The layers of docs/architecture.md, checked on the source: imports go one way, top to bottom."""

import ast
from pathlib import Path

import gankit

PACKAGE = Path(gankit.__file__).parent

# Each layer may import only the layers listed for it (its own modules always).
ALLOWED = {
    "base": set(),  # errors, rundir, checkpoint: the run-directory contract every reader uses
    "model": {"base", "model"},  # config, objectives, data, nets, augment
    "engine": {"base", "model"},
    "measure": {"base", "model", "engine", "measure"},  # metrics, diagnose, report, refine, experiments
    "runs": {"base", "model", "engine", "measure"},
}
LAYER_OF = {
    "errors": "base",
    "rundir": "base",
    "checkpoint": "base",
    "config": "model",
    "presets": "model",
    "objectives": "model",
    "data": "model",
    "nets": "model",
    "augment": "model",
    "engine": "engine",
    "metrics": "measure",
    "diagnose": "measure",
    "report": "measure",
    "refine": "measure",  # refine/commands.py (its flags) is CLI-side
    "runs": "runs",
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


def test_lower_layers_never_import_higher_ones():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        layer = LAYER_OF.get(top)
        if layer is None or path.name == "commands.py":  # the CLI and API side: may import anything
            continue
        for name in _imports(path):
            other = LAYER_OF.get(name, "top")
            if other != layer and other not in ALLOWED[layer]:
                violations.append(f"{path.relative_to(PACKAGE)} ({layer}) imports gankit.{name} ({other})")
    assert not violations, "\n".join(violations)


def test_the_engine_holds_no_run_assembly():
    # The callbacks that wire evaluation, plots and monitors into a run live in gankit.runs.
    assert not (PACKAGE / "engine" / "run.py").exists()
    assert (PACKAGE / "runs" / "assemble.py").is_file()
