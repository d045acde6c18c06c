"""Prometheus metrics of a game pod and the control plane, read with prometheus-client's own parser during a bot run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from conftest import quick_manifest
from prometheus_client.parser import text_string_to_metric_families

from gymkube.bot import ParticipantBot

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
BOTS = 3


def scrape(url: str) -> Samples:
    """Every sample of a `/metrics` answer, parsed as Prometheus would."""
    reply = httpx.get(url, timeout=10)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (found, have), value in samples.items() if found == name and wanted <= set(have))


def test_counters_move_with_a_bot_run_on_the_pod_and_the_control_plane(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml", episodes=1))
    plane_url = f"{platform.base}/metrics"

    async def run() -> tuple[str, Samples, Samples]:
        bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"metric{i}"), seed=i) for i in range(BOTS)]
        await bots[0].enter()
        parts = urlsplit(bots[0].pod_url)
        pod_url = f"{parts.scheme}://{parts.netloc}/metrics"
        before_pod, before_plane = await asyncio.to_thread(scrape, pod_url), await asyncio.to_thread(scrape, plane_url)
        await asyncio.gather(*(bot.run(120) for bot in bots))
        assert all(bot.completion_code for bot in bots)
        return pod_url, before_pod, before_plane

    pod_url, before_pod, before_plane = asyncio.run(run())
    deadline = time.monotonic() + 20  # the last rows are flushed within a second, then indexed
    while True:
        pod, plane = scrape(pod_url), scrape(plane_url)
        done = total(plane, "gymkube_study_participants", experiment="cartpole", state="completed") == BOTS
        if done and total(pod, "gymkube_rows_pending") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    labels = {"experiment": "cartpole", "pod": "cartpole-0"}
    grew = lambda name, **more: total(pod, name, **labels, **more) - total(before_pod, name, **labels, **more)  # noqa: E731
    assert grew("gymkube_rows_written_total", table="steps") > 0
    assert grew("gymkube_rows_written_total", table="sessions") >= BOTS
    assert grew("gymkube_frames_sent_total") > 0
    assert grew("gymkube_participants_completed_total") == BOTS
    assert grew("gymkube_chunks_uploaded_total") > 0
    assert grew("gymkube_input_to_state_seconds_count") > 0, "the bots' keys were applied and timed"
    assert total(pod, "gymkube_writer_ready", **labels) == 1
    # The tick lateness histogram, as Prometheus needs it: cumulative buckets up to +Inf, a count and a sum.
    buckets = sorted((float(dict(have)["le"]), value) for (name, have), value in pod.items()
                     if name == "gymkube_tick_lateness_seconds_bucket" and dict(have).get("fps") == "30")  # fmt: skip
    assert buckets[-1][0] == float("inf") and buckets[-1][1] == total(pod, "gymkube_tick_lateness_seconds_count")
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)
    assert grew("gymkube_tick_lateness_seconds_count") > 0
    assert total(pod, "process_resident_memory_bytes") > 0, "the process collector comes along"

    entries = total(plane, "gymkube_entries_total", experiment="cartpole", outcome="routed")
    assert entries - total(before_plane, "gymkube_entries_total", experiment="cartpole", outcome="routed") >= BOTS - 1
    assert total(plane, "gymkube_routing_decisions_total", experiment="cartpole", outcome="new") >= BOTS
    assert total(plane, "gymkube_study_participants", experiment="cartpole", state="completed") == BOTS
    assert total(plane, "gymkube_game_pods", experiment="cartpole", state="up") == 1
    assert total(plane, "gymkube_pod_reports_total", experiment="cartpole", outcome="ok") > 0
    # No participant id anywhere in a label (the label sets stay bounded however many take part).
    for samples in (pod, plane):
        assert not any("metric0" in value for _, have in samples for _, value in have)


def test_an_entry_for_an_unknown_experiment_is_counted_without_its_name(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))
    for i in range(3):
        assert httpx.get(f"{platform.base}/x/made-up-{i}").status_code == 404
    plane = scrape(f"{platform.base}/metrics")
    assert total(plane, "gymkube_entries_total", experiment="", outcome="unknown_experiment") == 3
    assert not any("made-up" in value for _, have in plane for _, value in have)


async def test_with_a_metrics_port_the_metrics_are_served_there_and_not_beside_the_api(tmp_path: Path):
    from gymkube.platform.main import build_app
    from gymkube.platform.runtime.local import free_port
    from gymkube.platform.settings import PlatformSettings

    port = free_port()
    app = build_app(PlatformSettings(dev=True, state_dir=tmp_path, metrics_port=port))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as api:
            assert (await api.get("/metrics")).status_code == 404, "the Ingress routes the main port"
        async with httpx.AsyncClient() as prometheus:
            reply = await prometheus.get(f"http://127.0.0.1:{port}/metrics")
        assert reply.status_code == 200 and "gymkube_entries_total" in reply.text
    async with httpx.AsyncClient() as prometheus:
        try:
            await prometheus.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the metrics port outlived the control plane")
