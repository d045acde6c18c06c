"""`gymkube validate` as a researcher runs it: exit codes, messages, and hostile input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
HANG_GUARD_S = 5.0  # refusals take well under 2 s; this only catches hangs

GOOD = {
    "apiVersion": "gymkube.io/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "cli-check"},
    "spec": {
        "scenes": [
            {
                "type": "gym",
                "id": "play",
                "environment": {"id": "CartPole-v1"},
                "players": {"p0": {"type": "human"}},
                "controls": {"keys": {"ArrowLeft": 0, "ArrowRight": 1}},
            },
            {"type": "end"},
        ]
    },
}


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float


def validate(*paths: Path | str) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gymkube", "validate", *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def refused(path: Path, *words: str) -> Run:
    """Run validate on `path` and check it was refused promptly and readably."""
    run = validate(path)
    assert run.code != 0, run
    assert run.seconds < HANG_GUARD_S, f"took {run.seconds:.1f} s"
    assert "Traceback" not in run.err, run.err
    assert run.out == ""
    lines = run.err.strip().splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines), run.err
    for word in words:
        assert word in run.err, run.err
    return run


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def good_yaml(**spec_changes: object) -> str:
    document = json.loads(json.dumps(GOOD))
    document["spec"].update(spec_changes)
    return json.dumps(document, indent=2)


def test_a_good_manifest_exits_0_and_says_ok(tmp_path: Path) -> None:
    path = write(tmp_path, "good.yaml", good_yaml())
    run = validate(path)
    assert (run.code, run.err) == (0, "")
    assert run.out == f"{path}: ok: experiment 'cli-check'\n"


def test_a_json_manifest_is_accepted_because_json_is_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "good.json", json.dumps(GOOD))
    run = validate(path)
    assert run.code == 0, run.err


def test_every_example_validates() -> None:
    assert EXAMPLES, "examples/*.yaml: expected at least one example manifest"
    run = validate(*EXAMPLES)
    assert run.code == 0, run.err
    assert run.out.count(": ok: experiment ") >= len(EXAMPLES)


def test_one_bad_file_among_good_ones_fails_the_run_but_the_good_are_still_reported(
    tmp_path: Path,
) -> None:
    good = write(tmp_path, "good.yaml", good_yaml())
    bad = write(tmp_path, "bad.yaml", good_yaml(capacity=0))
    run = validate(good, bad)
    assert run.code == 1
    assert f"{good}: ok" in run.out
    assert run.err.startswith(f"{bad}: spec.capacity: ")


def test_validate_names_the_field_and_reason_for_a_bad_fps(tmp_path: Path) -> None:
    document = json.loads(good_yaml())
    document["spec"]["scenes"][0]["fps"] = 500
    path = write(tmp_path, "fps.yaml", json.dumps(document))
    run = refused(path, "spec.scenes[0].fps", "less than or equal to 60", "got 500")
    assert run.code == 1


def test_an_unknown_field_is_named_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.yaml", good_yaml(replicaz=2))
    refused(path, "spec.replicaz: unknown field")


def test_binary_garbage_is_refused_as_not_text(tmp_path: Path) -> None:
    refused(write(tmp_path, "garbage.yaml", bytes(range(256)) * 64), "(file)", "not UTF-8")


def test_colons_are_refused_as_not_yaml(tmp_path: Path) -> None:
    refused(write(tmp_path, "colons.yaml", ": : :\n"), "(file): not valid YAML", "line 1")


def test_a_yaml_list_is_refused_as_not_a_mapping(tmp_path: Path) -> None:
    refused(write(tmp_path, "list.yaml", "- a\n- b\n"), "(document)", "got a list")


def test_a_scalar_is_refused_as_not_a_mapping(tmp_path: Path) -> None:
    refused(write(tmp_path, "scalar.yaml", "42\n"), "(document)", "mapping", "got int")


def test_an_empty_file_is_refused_as_holding_nothing(tmp_path: Path) -> None:
    refused(write(tmp_path, "empty.yaml", ""), "(file): holds no document")


def test_a_billion_laughs_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]")
    refused(write(tmp_path, "lol.yaml", "\n".join(lines) + "\n"), "(file)", "alias bomb")


def test_a_60_mb_file_is_refused_by_size_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(60 * 1024 * 1024)  # sparse: no disk used
    refused(path, "(file)", "MB", "limited to 1 MiB")


def test_a_60_mb_file_of_real_yaml_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "huge-real.yaml"
    line = b"key: " + b"x" * 1018 + b"\n"
    with path.open("wb") as handle:
        for _ in range(60 * 1024):
            handle.write(line)
    try:
        refused(path, "(file)", "limited to 1 MiB")
    finally:
        path.unlink()


@pytest.mark.parametrize(
    "nested",
    [
        "a: " + "[" * 1000 + "]" * 1000,
        "a: " + "{a: " * 1000 + "1" + "}" * 1000,
        "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(1000)),
    ],
    ids=["flow-lists", "flow-maps", "block-maps"],
)
def test_yaml_nested_1000_levels_deep_is_refused(tmp_path: Path, nested: str) -> None:
    run = refused(write(tmp_path, "deep.yaml", nested + "\n"), "(file)")
    # load.py currently reports Python's "maximum recursion depth exceeded" here (the
    # composer recurses before the depth limit is checked); either wording names the problem.
    assert "deeper than" in run.err or "recursion" in run.err, run.err


def test_a_multi_document_file_names_the_bad_document(tmp_path: Path) -> None:
    bad = json.loads(good_yaml())
    bad["metadata"]["name"] = "Bad_Name"
    path = write(tmp_path, "multi.yaml", good_yaml() + "\n---\n" + json.dumps(bad) + "\n")
    run = refused(path, "document 2: metadata.name", "'Bad_Name'")
    assert "document 1" not in run.err


def test_a_missing_file_is_reported_as_unreadable() -> None:
    path = REPO / "examples" / "does-not-exist.yaml"
    refused(path, "(file): cannot be read", "No such file")


def test_a_directory_is_reported_as_unreadable(tmp_path: Path) -> None:
    refused(tmp_path, "(file): cannot be read")


def test_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(tmp_path, "tag.yaml", f"!!python/object/apply:os.system ['touch {marker}']\n")
    refused(path, "(file): not valid YAML")
    assert not marker.exists()


SPRITES = REPO / "tests" / "fixtures" / "sprites"


def sprite_experiment(tmp_path: Path, **rendering: object) -> Path:
    """A manifest whose scene draws tests/fixtures/sprites/showcase_env.py from its atlas (made here with Pillow)."""
    sys.path.insert(0, str(SPRITES))
    try:
        from sprite_atlas import write_atlas
    finally:
        sys.path.remove(str(SPRITES))
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "showcase_env.py").write_text((SPRITES / "showcase_env.py").read_text())
    write_atlas(bundle / "art")
    document = json.loads(good_yaml(bundle="bundle"))
    scene = document["spec"]["scenes"][0]
    scene["environment"] = {"entryPoint": "showcase_env:make"}
    scene["rendering"] = {
        "width": 320,
        "height": 240,
        "coordinates": "pixels",
        "atlases": {"shapes": {"image": "art/shapes.png", "frames": "art/shapes.json"}},
        **rendering,
    }
    return write(tmp_path, "sprites.json", json.dumps(document))  # fmt: skip


def test_a_scene_with_sprites_validates_when_every_picture_and_frame_is_there(tmp_path: Path) -> None:
    run = validate(sprite_experiment(tmp_path))
    assert (run.code, run.err) == (0, ""), run


def test_a_missing_atlas_picture_is_an_error(tmp_path: Path) -> None:
    path = sprite_experiment(tmp_path)
    (tmp_path / "bundle" / "art" / "shapes.png").unlink()
    refused(path, "rendering.atlases.shapes", "art/shapes.png is not in the experiment's files")


def test_an_atlas_that_is_not_a_picture_or_whose_frames_fall_outside_it_is_an_error(tmp_path: Path) -> None:
    path = sprite_experiment(tmp_path)
    frames = tmp_path / "bundle" / "art" / "shapes.json"
    document = json.loads(frames.read_text())
    document["frames"]["arrow"]["frame"]["x"] = 400
    frames.write_text(json.dumps(document))
    refused(path, "frame 'arrow' is not inside art/shapes.png")
    (tmp_path / "bundle" / "art" / "shapes.png").write_text("not a picture")
    refused(path, "art/shapes.png is not a picture")


def test_a_sprite_frame_missing_from_its_atlas_is_an_error(tmp_path: Path) -> None:
    document = json.loads(sprite_experiment(tmp_path).read_text())
    document["spec"]["scenes"][0]["environment"]["kwargs"] = {"frame": "arrow_left"}
    path = write(tmp_path, "missing-frame.json", json.dumps(document))
    refused(path, "scene 'play', step 0: object 1 (id 'plain'): 'frame' 'arrow_left' is not in atlas 'shapes'")


def test_a_sprite_of_an_atlas_the_scene_does_not_name_is_an_error(tmp_path: Path) -> None:
    path = sprite_experiment(tmp_path, atlases={"other": {"image": "art/shapes.png", "frames": "art/shapes.json"}})
    refused(path, "'atlas' 'shapes' is not one of the scene's rendering.atlases (other)")


def test_a_bad_coordinate_mode_is_an_error(tmp_path: Path) -> None:
    refused(sprite_experiment(tmp_path, coordinates="centimetres"), "rendering.coordinates", "'fractions' or 'pixels'")


def test_a_hostile_frame_list_is_refused_by_size_count_name_and_depth_without_a_traceback(tmp_path: Path) -> None:
    path = sprite_experiment(tmp_path)
    frames = tmp_path / "bundle" / "art" / "shapes.json"
    one = {"frame": {"x": 0, "y": 0, "w": 1, "h": 1}}
    frames.write_text(json.dumps({"frames": {f"f{i}": one for i in range(5000)}}))
    refused(path, "lists 5000 frames; an atlas may have 4096")
    frames.write_text(json.dumps({"frames": {"x" * 201: one}}))
    refused(path, "a frame's name must be text of 1 to 200 characters")
    frames.write_text("[" * 100_000 + "]" * 100_000)
    refused(path, "art/shapes.json is not JSON (RecursionError")
    frames.write_text(" " * (4 * 1024 * 1024 + 1) + "{}")
    refused(path, "art/shapes.json is larger than 4 MiB")


def test_a_sheet_too_big_for_a_browser_is_refused_by_its_header(tmp_path: Path) -> None:
    from PIL import Image

    path = sprite_experiment(tmp_path)
    Image.new("1", (9000, 10)).save(tmp_path / "bundle" / "art" / "shapes.png")
    refused(path, "art/shapes.png is 9000x10 pixels; a sheet may be 8192x8192 at most")


@pytest.mark.parametrize("where", ["../outside.json", "art/../../outside.json", "/etc/passwd.json"])
def test_an_atlas_outside_the_experiments_files_is_refused(tmp_path: Path, where: str) -> None:
    (tmp_path / "outside.json").write_text("{}")
    path = sprite_experiment(tmp_path, atlases={"shapes": {"image": "art/shapes.png", "frames": where}})
    refused(path, "rendering.atlases.shapes")


def test_an_atlas_linked_out_of_the_experiments_files_is_refused(tmp_path: Path) -> None:
    path = sprite_experiment(tmp_path)
    (tmp_path / "secret.json").write_text(
        json.dumps({"frames": {"arrow": {"frame": {"x": 0, "y": 0, "w": 1, "h": 1}}}})
    )
    frames = tmp_path / "bundle" / "art" / "shapes.json"
    frames.unlink()
    frames.symlink_to(tmp_path / "secret.json")
    refused(path, "art/shapes.json is not in the experiment's files")
