"""Client mode: the environment runs in the participant's browser (Pyodide, served by the pod), the AI paddle
through onnxruntime-web; real key presses; the pod's data matches what was played and replays on the pod."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml
from browser import chromium, click_settled
from conftest import quick_manifest


def test_a_participant_plays_pong_in_the_browser_and_the_pod_keeps_every_step(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "pong_client.yaml", episodes=2, maxSteps=90, countdownS=1)
    platform = platform_factory(manifest)
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
        external: list[str] = []
        page.route(  # everything comes from the pod: no CDN, no package index
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1")
                else (external.append(route.request.url), route.abort())
            ),
        )
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(platform.entry("pong-client", PROLIFIC_PID="carol"))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        click_settled(page, "#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
        page.wait_for_timeout(700)
        page.screenshot(path=str(tmp_path / "playing.png"))
        for key in ("ArrowUp", "ArrowDown", "ArrowUp"):
            page.keyboard.down(key)
            page.wait_for_timeout(400)
            page.keyboard.up(key)
            page.wait_for_timeout(150)
        hud = page.text_content("#hud")
        page.wait_for_selector("#completion-code", timeout=30_000)
    assert not errors and not external, (errors, external)
    assert hud and hud.startswith("Round 1/2")
    data = platform.finish("pong-client")
    episodes = sorted(data["episodes"], key=lambda e: e["episode"])
    assert [(e["episode"], e["mode"], e["status"]) for e in episodes] == [(1, "client", "truncated")] + [
        (2, "client", "truncated")
    ]
    steps = data["steps"]
    assert len(steps) == 2 * 90
    assert {r["source_right"] for r in steps} == {"policy"}
    pressed = [r for r in steps if r["source_left"] == "human"]
    assert {r["action_left"] for r in pressed} == {1, 2}
    assert all(r["input_seq_left"] is not None and r["t_tick_ns"] is not None for r in pressed[:1])
    versions = episodes[0]["versions"]
    assert '"runtime": "pyodide"' in versions and '"python": "3.14' in versions


def test_a_closed_tab_loses_at_most_the_last_second(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "pong_client.yaml", episodes=1, maxSteps=900, reconnectGraceS=1)
    platform = platform_factory(manifest)
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(platform.entry("pong-client", PROLIFIC_PID="finn"))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        click_settled(page, "#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
        page.wait_for_timeout(3300)
        played = page.evaluate("gymkubeDebug.game.game.sim.step")
        page.close()  # no goodbye: whatever was not sent yet is gone
    page_closed_at_step = played
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the pod ends the game after the 1 s grace
        if platform.admin_overview()["experiments"][0]["pods"][0].get("games", 1) == 0:
            break
        time.sleep(0.5)
    data = platform.finish("pong-client")
    (episode,) = data["episodes"]
    assert episode["status"] == "abandoned"
    # At most a second (30 steps, plus a few for the send interval's jitter) lost; a step or two may have been
    # played and sent (on pagehide) between reading the step count and the close.
    assert page_closed_at_step - 30 - 4 <= episode["steps"] == len(data["steps"]) <= page_closed_at_step + 3


def make_wheel(folder: Path, name: str, version: str, module_source: str) -> str:
    """A pure-Python wheel by hand (METADATA, WHEEL, RECORD): what a researcher's `pip wheel` would give."""
    import zipfile

    filename = f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": module_source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: gymkube-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    (folder / "wheels").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "wheels" / filename, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return f"wheels/{filename}"


def test_packages_the_experiment_lists_are_installed_in_the_browser_with_micropip(platform_factory, tmp_path: Path):
    bundle = tmp_path / "bundle"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "pong", bundle)
    wheel = make_wheel(bundle, "pongrules", "1.0", "MAX_MISSES = 2\n")
    (bundle / "ruled_env.py").write_text(
        "import pongrules\nfrom pong_env import PongEnv\n\n\n"
        "def make_env():\n    return PongEnv(max_misses=pongrules.MAX_MISSES)\n"
    )
    environment = {"entryPoint": "ruled_env:make_env", "packages": [wheel]}
    manifest = quick_manifest(tmp_path, "pong_client.yaml", episodes=1, maxSteps=60, environment=environment)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["bundle"] = str(bundle)
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)
    with chromium() as browser:
        page = browser.new_page()
        page.goto(platform.entry("pong-client", PROLIFIC_PID="gil"))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        click_settled(page, "#continue")
        # The environment imports pongrules, which only the wheel provides: without it the game cannot start.
        page.wait_for_selector("#completion-code", timeout=60_000)
    data = platform.finish("pong-client")
    (episode,) = data["episodes"]
    assert episode["steps"] == len(data["steps"]) == 60


def test_the_game_goes_on_while_the_connection_to_the_pod_is_down_and_nothing_is_lost(platform_factory, tmp_path):
    environment = {"entryPoint": "pong_env:make_env", "kwargs": {"max_misses": 1000}}  # ends at maxSteps
    manifest = quick_manifest(
        tmp_path, "pong_client.yaml", episodes=1, maxSteps=600, countdownS=1, environment=environment
    )
    platform = platform_factory(manifest)
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.goto(platform.entry("pong-client", PROLIFIC_PID="hal"))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        click_settled(page, "#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
        page.wait_for_timeout(1500)
        context.set_offline(True)
        page.wait_for_selector("#connection:not([hidden])", timeout=20_000)  # the pod is gone for now
        before = page.evaluate("gymkubeDebug.game.game.sim.step")
        page.keyboard.down("ArrowDown")  # the participant plays on meanwhile
        page.wait_for_timeout(1500)
        page.keyboard.up("ArrowDown")
        page.wait_for_timeout(6500)  # 8 s offline: a backlog larger than one message to the pod may carry
        during = page.evaluate("gymkubeDebug.game.game.sim.step")
        status = page.get_attribute("#scene", "data-game-status")
        context.set_offline(False)
        page.wait_for_selector("#completion-code", timeout=60_000)
    assert during - before >= 200 and status == "playing"  # stepped at ~30 fps while offline, no overlay
    data = platform.finish("pong-client")
    (episode,) = data["episodes"]
    assert episode["status"] == "truncated" and len(data["steps"]) == episode["steps"] == 600
    kinds = [e["kind"] for e in data["events"]]
    assert "disconnect" in kinds and "reconnect" in kinds
    offline = [r for r in data["steps"] if before < r["step"] <= during]
    assert {r["action_left"] for r in offline} >= {2}  # the keys pressed offline are in the data
