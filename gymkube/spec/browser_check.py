"""Warnings for `client`/`p2p` scenes whose environment may not run in the browser (Pyodide).

In the browser there is the standard library, the experiment's own files and what the scene lists in
`environment.packages` (installed with micropip from the package index). numpy, gymnasium and most
compiled packages are not there unless listed, and micropip can only install them when the package index
is reachable from the participant's browser. These checks read the environment's module (no import) and
say what is missing; they cannot prove an environment runs, only catch the usual reasons it does not.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from gymkube.spec.experiment import Experiment
from gymkube.spec.gym import GymScene

PROVIDED = {"gymkube", "micropip", "pyodide", "js"}
"""Importable in the page without being listed."""


def _requirement_name(requirement: str) -> str:
    name = Path(requirement).name.split("-")[0] if requirement.endswith(".whl") else requirement
    return re.split(r"[\[<>=!~ ;]", name, maxsplit=1)[0].strip().lower().replace("-", "_")


def _module_file(bundle: Path, module: str) -> Path | None:
    base = bundle.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def browser_modules(scene: GymScene) -> list[str]:
    """The experiment's modules a browser scene imports: its environment, renderer, hooks, HUD and adapters."""
    entries = [
        scene.environment.entry_point,
        scene.rendering.renderer,
        scene.hooks,
        getattr(scene.hud, "function", None),
    ]
    entries += [p.adapter for p in scene.policies]
    return list(dict.fromkeys(e.partition(":")[0] for e in entries if e))


def _module_warnings(where: str, bundle: Path, module: str, listed: set[str]) -> tuple[list[str], ast.AST | None]:
    """What keeps one of the experiment's modules from importing in the browser, and its syntax tree."""
    path = _module_file(bundle, module)
    if path is None:
        return [f"{where}: module {module!r} is not in the experiment's files ({bundle})"], None
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        return [f"{where}: {path.name} cannot be read as Python: {exc}"], None
    local = {p.stem for p in bundle.glob("*.py")} | {p.parent.name for p in bundle.glob("*/__init__.py")}
    missing = sorted(
        name for name in _imports(tree)
        if name not in sys.stdlib_module_names and name not in local and name not in PROVIDED
        and name.lower() not in listed
    )  # fmt: skip
    if not missing:
        return [], tree
    return [
        f"{where}: {path.name} imports {', '.join(missing)}, which the browser does not have; list "
        "them in 'environment.packages' (installed by micropip from the package index or a wheel in the "
        "experiment's files), or remove the import"
    ], tree


def scene_warnings(scene: GymScene, bundle: Path | None) -> list[str]:
    """What may keep this scene's environment from running in the browser."""
    if scene.mode == "server":
        return []
    where = f"scene {scene.id!r} (mode {scene.mode})"
    listed = {_requirement_name(p) for p in scene.environment.packages}
    if scene.environment.id is not None:
        needed = ["gymnasium", "numpy"] + (["pettingzoo"] if scene.environment.api == "pettingzoo" else [])
        if not set(needed) <= listed:
            return [
                f"{where}: environment id {scene.environment.id!r} needs {', '.join(needed)} (and the package "
                "that registers it) in the browser; list them in 'environment.packages' (micropip installs them "
                "only when the package index is reachable), or use a pure-Python 'entryPoint' from the "
                "experiment's files"
            ]
        return []
    if bundle is None:
        return [f"{where}: the environment's files are not available here, so they were not checked"]
    warnings: list[str] = []
    environment = scene.environment.entry_point.partition(":")[0] if scene.environment.entry_point else None
    for module in browser_modules(scene):
        found, tree = _module_warnings(where, bundle, module, listed)
        warnings += found
        if module == environment and tree is not None and scene.mode == "p2p":
            methods = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            if not {"get_state", "set_state"} <= methods:
                warnings.append(
                    f"{where}: no get_state()/set_state() found in {module}; p2p rollback needs them "
                    "(JSON-compatible state; see examples/pong/pong_env.py)"
                )
    return warnings


def local_bundle(experiment: Experiment, manifest_dir: Path | None) -> Path | None:
    """The experiment's files when they are a folder beside the manifest (`spec.bundle`, local runtime), else None."""
    name = experiment.spec.bundle
    if not name or name.startswith("sha256:") or manifest_dir is None:
        return None
    candidate = (manifest_dir / name).resolve()
    return candidate if candidate.is_dir() else None


def browser_warnings(experiment: Experiment, manifest_dir: Path | None) -> list[str]:
    """Warnings for every browser scene; the bundle is `spec.bundle` beside the manifest (local runtime)."""
    bundle = local_bundle(experiment, manifest_dir)
    return [w for scene in experiment.spec.gym_scenes() for w in scene_warnings(scene, bundle)]
