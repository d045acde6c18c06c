"""A Unity WebGL scene in chromium, with a build-shaped fixture (no Unity build can be made on our machines).

tests/fixtures/unity is shaped like a Unity WebGL build compressed with gzip (or Brotli, Unity's default):
a loader script that defines createUnityInstance and, as Unity's does, fetches the data file, runs the
framework script from a blob: URL and compiles real WebAssembly with instantiateStreaming; its "game" then
calls window.gymkube as a Unity jslib plugin would: two episodes of steps with columns of its own, then
done. The test sees it load in its sandboxed frame under the frame's own Content-Security-Policy (any
refusal fails the test), the rows appear with the participant's ids, and the scene end.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

import httpx
import yaml
from browser import chromium
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "unity"))
from make_build import write_build  # noqa: E402

sys.path.remove(str(ROOT / "tests" / "fixtures" / "unity"))


def unity_manifest(tmp_path: Path, compression: Literal["gz", "br"] = "gz", **scene: object) -> Path:
    bundle = tmp_path / "bundle"
    write_build(bundle / "footsies", compression=compression)
    document = {
        "apiVersion": "gymkube.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "footsies"},
        "spec": {"bundle": str(bundle), "recruitment": {"participantParam": "PROLIFIC_PID"}, "scenes": [
            {"type": "unity", "id": "fight", "title": "Play", "build": "footsies/Build", "width": 480, "height": 300,
             "timeLimitS": 60, **scene},
            {"type": "end"},
        ]},
    }  # fmt: skip
    path = tmp_path / "footsies.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_fixture_build_loads_reports_two_episodes_and_ends_the_scene(platform_factory, tmp_path: Path) -> None:
    platform = platform_factory(unity_manifest(tmp_path))
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(platform.entry("footsies", PROLIFIC_PID="fighter1"))
        page.wait_for_selector("#scene[data-scene-type='unity'] .unity-frame")
        page.wait_for_selector(".unity-stage[data-unity-loaded='true']", timeout=20_000)
        page.wait_for_selector("#scene[data-scene-type='end']", timeout=20_000)
        code = page.text_content("#completion-code")
    assert code and not errors, errors
    platform.stop()
    checked = platform.gymkube("check", "footsies")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    data = platform.tables("footsies")
    episodes = sorted(data["episodes"], key=lambda e: e["episode"])
    assert [(e["episode"], e["status"], e["steps"], e["score"]) for e in episodes] == [
        (1, "terminated", 5, 20.0), (2, "terminated", 3, 9.0)
    ]  # fmt: skip
    assert {(e["participant"], e["scene"], e["mode"]) for e in episodes} == {("fighter1", "fight", "unity")}
    assert json.loads(episodes[0]["info"]) == {"level": 1, "opponent": "fixture", "rounds": 5}
    steps = sorted(data["steps"], key=lambda s: (s["episode"], s["step"]))
    assert [(s["episode"], s["step"], s["x"]) for s in steps] == [
        (1, 1, 2), (1, 2, 3), (1, 3, 4), (1, 4, 5), (1, 5, 6), (2, 1, 2), (2, 2, 3), (2, 3, 4)
    ]  # fmt: skip
    assert steps[2]["action"] == "punch" and steps[2]["hit"] is True and json.loads(steps[2]["pos"]) == [3, 1]
    assert {s["participant"] for s in steps} == {"fighter1"} and all(s["t_client_ms"] > 1e12 for s in steps)
    (session,) = data["sessions"]
    assert session["status"] == "completed" and json.loads(session["episodes_played"]) == {"fight": 2}
    ends = [json.loads(e["detail"]) for e in data["events"] if e["kind"] == "unity_scene_end"]
    assert [e["why"] for e in ends] == ["done"]


def test_a_brotli_build_as_unity_writes_by_default_plays_in_chromium(platform_factory, tmp_path: Path) -> None:
    # Browsers take `Content-Encoding: br` on https and on 127.0.0.1/localhost (secure contexts), where this runs.
    platform = platform_factory(unity_manifest(tmp_path, compression="br"))
    with httpx.Client(follow_redirects=True, timeout=10) as client:
        entry = client.get(platform.entry("footsies", PROLIFIC_PID="probe"))
        base = str(entry.url).split("?")[0].rstrip("/") + "/unity/fight/"
        with client.stream("GET", base + "fixture.wasm.br") as wasm:
            assert (wasm.headers["content-type"], wasm.headers["content-encoding"]) == ("application/wasm", "br")
    with chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(platform.entry("footsies", PROLIFIC_PID="fighter2"))
        page.wait_for_selector(".unity-stage[data-unity-loaded='true']", timeout=20_000)
        page.wait_for_selector("#scene[data-scene-type='end']", timeout=20_000)
    assert not errors, errors
    platform.stop()
    data = platform.tables("footsies")
    steps = [s for s in data["steps"] if s["participant"] == "fighter2"]
    assert sorted(s["x"] for s in steps if s["episode"] == 2) == [2, 3, 4], "the WebAssembly ran, decoded from br"
    assert {(e["episode"], e["steps"]) for e in data["episodes"] if e["participant"] == "fighter2"} == {(1, 5), (2, 3)}


def test_compressed_build_files_are_served_with_their_encoding_and_type(platform_factory, tmp_path: Path) -> None:
    manifest = unity_manifest(tmp_path)
    build = tmp_path / "bundle" / "footsies" / "Build"
    (build / "extra.data.br").write_bytes(b"not really brotli: only the headers are looked at")
    (build / "page.html").write_text("<script>parent.document.cookie</script>")
    platform = platform_factory(manifest)
    with httpx.Client(follow_redirects=True, timeout=10) as client:
        entry = client.get(platform.entry("footsies", PROLIFIC_PID="h1"))
        base = str(entry.url).split("?")[0].rstrip("/") + "/unity/fight/"
        with client.stream("GET", base + "fixture.wasm.gz", headers={"Accept-Encoding": "identity"}) as wasm:
            assert wasm.status_code == 200
            assert wasm.headers["content-type"] == "application/wasm"
            assert wasm.headers["content-encoding"] == "gzip"
            assert wasm.headers["access-control-allow-origin"] == "*"
        for name, kind, encoding in (("fixture.framework.js.gz", "text/javascript", "gzip"),
                                     ("fixture.data.gz", "application/octet-stream", "gzip"),
                                     ("extra.data.br", "application/octet-stream", "br"),
                                     ("fixture.loader.js", "text/javascript", None)):  # fmt: skip
            with client.stream("GET", base + name) as response:
                assert response.headers["content-type"].split(";")[0] == kind, name
                assert response.headers.get("content-encoding") == encoding, name
        page = client.get(base + "page.html")  # any file of the build is inert on its own: sandboxed, no script
        assert "sandbox" in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        for path in ("../../files/x", "..%2F..%2Fexperiment.json", "/etc/passwd"):
            assert client.get(base + path).status_code == 404
        frame = client.get(base.removesuffix("unity/fight/") + "unity?scene=fight")
        policy = frame.headers["content-security-policy"]
        assert policy.startswith("sandbox allow-scripts") and "'wasm-unsafe-eval'" in policy
        assert 'data-wasm="unity/fight/fixture.wasm.gz"' in frame.text
        # What Unity needs (scripts from blob: URLs, workers) is allowed in its frame only, not in the study's page.
        index = client.get(base.removesuffix("unity/fight/"))
        page_scripts = index.headers["content-security-policy"].split("script-src")[1].split(";")[0]
        assert "blob:" not in page_scripts and "worker-src" not in index.headers["content-security-policy"]
    platform.stop()
