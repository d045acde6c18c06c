"""Making an experiment's environment and its renderer, and recording what replays need."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from gymkube.portable.common import import_entry_point
from gymkube.portable.parallel import Seated, make_parallel_env, parallel_env_factory
from gymkube.spec.gym import GymScene
from gymkube.storage.bundles import bundle_files, bundle_hash

__all__ = ["bundle_file", "bundle_files", "import_entry_point", "make_env", "find_object_renderer", "bundle_hash"]


def bundle_file(bundle_dir: Path | None, relative: str) -> Path:
    """A file from the experiment's own files; FileNotFoundError if absent or outside them."""
    if bundle_dir is None:
        raise FileNotFoundError(f"{relative}: the experiment has no files (spec.bundle)")
    root = bundle_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise FileNotFoundError(f"{relative!r} is not in the experiment's files")
    return path


def make_env(scene: GymScene, bundle_dir: Path | None) -> Any:
    """A fresh environment for one game (a PettingZoo one seated by player: `gymkube.portable.parallel`)."""
    spec = scene.environment
    kwargs = dict(spec.kwargs)
    if scene.rendering.mode == "rgb":
        kwargs.setdefault("render_mode", "rgb_array")
    if spec.api == "pettingzoo":
        env = make_parallel_env(spec.id, spec.entry_point, kwargs, bundle_dir)
        return Seated(env, list(scene.players), spec.agents)
    if spec.id is not None:
        return gym.make(spec.id, disable_env_checker=True, **kwargs)
    assert spec.entry_point is not None
    return import_entry_point(spec.entry_point, bundle_dir)(**kwargs)


def preload(scene: GymScene, bundle_dir: Path | None) -> None:
    """Import what the scene's environment and renderer are made from, so the first game does not pay for it.

    Importing a large package (cogrid: about 1.5 s) inside the pod's event loop would hold every running
    game's tick for that long when the first participant reaches the scene.
    """
    spec = scene.environment
    if spec.entry_point is not None:
        import_entry_point(spec.entry_point, bundle_dir)
    elif spec.api == "pettingzoo":
        parallel_env_factory(spec.id or "")
    else:
        entry = gym.spec(spec.id or "").entry_point
        if isinstance(entry, str):
            importlib.import_module(entry.partition(":")[0])
    if scene.rendering.renderer:
        import_entry_point(scene.rendering.renderer, bundle_dir)


def find_object_renderer(scene: GymScene, env: Any, bundle_dir: Path | None) -> Callable[[], list[dict[str, Any]]]:
    """What draws `objects` frames: the spec's renderer, env.render_objects(), or a built-in."""
    from gymkube.game_pod.renderers import find_renderer

    if scene.rendering.renderer:
        function = import_entry_point(scene.rendering.renderer, bundle_dir)
        return lambda: function(env)
    method = getattr(getattr(env, "unwrapped", env), "render_objects", None)
    if callable(method):
        return method
    builtin = find_renderer(scene.environment.id)
    if builtin is not None:
        return lambda: builtin(env)
    raise LookupError(
        f"environment {scene.environment.name!r} has no render_objects() and no renderer was "
        "given (set rendering.renderer, or rendering.mode: rgb)"
    )


def package_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def runtime_versions(env: Any) -> dict[str, str | None]:
    """Versions of the packages an episode's outcome depends on."""
    module = type(getattr(env, "unwrapped", env)).__module__.split(".")[0]
    packages = ("gymkube", "gymnasium", "numpy", "onnxruntime") + (("pettingzoo",) if isinstance(env, Seated) else ())
    versions = {p: package_version(p) for p in packages}
    versions["env_package"] = module
    versions["env_package_version"] = package_version(module)
    versions["python"] = sys.version.split()[0]
    return versions
