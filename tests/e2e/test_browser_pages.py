"""Researcher pages in chromium: a static scene's scripts and fields work inside a sandboxed frame that
reaches nothing of the study's page, and researcher HTML elsewhere runs no code in the study's origin."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from browser import chromium, click_settled
from conftest import quick_manifest
from playwright.sync_api import Frame, Page, Route, expect

from gymkube.game_pod.protocol import PAGE_LIMITS

COOKIE = {"name": "readable_by_scripts", "value": "cookie-of-the-study-origin", "domain": "127.0.0.1", "path": "/"}


def origin(url: str) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(url))


def page_frame(page: Page, scene_id: str) -> Frame:
    """The frame of a static scene's page, once its bridge has told the study's page its state."""
    page.wait_for_selector(f"#scene[data-scene-id='{scene_id}'] iframe.page-frame")
    page.wait_for_function("() => document.querySelector('iframe.page-frame')?.style.height")
    return next(f for f in page.frames if f.url.endswith(f"page?scene={scene_id}"))


def answers(data: dict[str, list[dict[str, Any]]], scene: str) -> Any:
    (row,) = [r for r in data["scenes"] if r["scene"] == scene]
    return None if row["answers"] is None else json.loads(row["answers"])


def client_errors(data: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [json.loads(e["detail"])["message"] for e in data["events"] if e["kind"] == "client_error"]


def experiment(tmp_path: Path, scenes: list[dict[str, Any]], files: dict[str, str]) -> Path:
    """A one-off experiment of these scenes and an end, with these files in its bundle."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name, text in files.items():
        (bundle / name).write_text(text)
    document = {
        "apiVersion": "gymkube.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "pages"},
        "spec": {"bundle": str(bundle), "recruitment": {"participantParam": "PROLIFIC_PID"}, "scenes": scenes},
    }
    path = tmp_path / "pages.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_consent_page_script_allows_continue_once_the_box_is_ticked_and_fields_are_recorded(
    platform_factory, tmp_path: Path
):
    platform = platform_factory(quick_manifest(tmp_path, "scripted_consent.yaml", maxSteps=20))
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(platform.entry("scripted-consent", PROLIFIC_PID="consenter"))
        consent = page_frame(page, "consent")
        button = page.locator("#continue")
        expect(button).to_be_disabled()  # the page's own script (files/consent.js) said no
        consent.locator("#consent").check()
        expect(button).to_be_enabled()
        expect(consent.locator("#hint")).to_be_hidden()
        consent.locator("#consent").uncheck()
        expect(button).to_be_disabled()
        consent.locator("#consent").check()
        # The frame is as tall as its page: the participant scrolls the study's page only.
        assert consent.evaluate("document.documentElement.scrollHeight <= innerHeight")
        click_settled(page, "#continue")

        about = page_frame(page, "about-you")  # no script: `required` fields hold Continue
        expect(button).to_be_disabled()
        about.locator("input[name=age]").fill("34")
        expect(button).to_be_disabled()
        about.locator("select[name=gaming]").select_option("every week")
        expect(button).to_be_enabled()
        click_settled(page, "#continue")
        page.wait_for_selector("#completion-code", timeout=20_000)

    data = platform.finish("scripted-consent")
    consented = answers(data, "consent")
    assert consented["consent"] is True and consented["contact_later"] is False
    assert 0 < consented["seconds_to_consent"] < 60
    assert answers(data, "about-you") == {"age": 34, "gaming": "every week"}
    assert client_errors(data) == []


PROBE = """
<p>A page that tries to reach the study's page.</p>
<img src="files/dot.svg" alt="">
<script>
  const probe = {};
  const attempt = (name, fn) => { try { probe[name] = String(fn()); } catch (e) { probe[name] = "threw " + e.name; } };
  attempt("cookie", () => document.cookie);
  attempt("parentDocument", () => window.parent.document.title);
  attempt("parentUrl", () => window.parent.location.href);
  attempt("topUrl", () => window.top.location.search);
  attempt("storage", () => localStorage.length);
  attempt("beacon", () => navigator.sendBeacon("CONTROL/x/pages?PROLIFIC_PID=beacon", "x"));
  probe.origin = self.origin;
  probe.referrer = document.referrer;
  probe.url = location.href;
  gymkube.setValue("probe", JSON.stringify(probe));
  const settle = (name, promise) => promise.then((r) => gymkube.setValue(name, "status " + r.status),
                                                 (e) => gymkube.setValue(name, "failed " + e.name));
  settle("fetchEntry", fetch("CONTROL/x/pages?PROLIFIC_PID=intruder", { credentials: "include" }));
  settle("fetchPod", fetch("load", { credentials: "include" }));
  try {
    const socket = new WebSocket("POD_WS/socket.io/?EIO=4&transport=websocket&probe=1");
    socket.onopen = () => gymkube.setValue("socket", "open");
    socket.onerror = () => gymkube.setValue("socket", "error");
  } catch (e) { gymkube.setValue("socket", "threw " + e.name); }
</script>
"""

HOSTILE = """
<p>A page that floods the study's page with messages it should not trust.</p>
<script>
  const host = window.parent;
  host.postMessage("a string", "*");
  host.postMessage({ gymkube: "page", type: "state", values: "nope", continue: "yes", height: "tall" }, "*");
  const many = {};
  for (let i = 0; i < 10000; i++) many["f" + i] = "v";
  host.postMessage({ gymkube: "page", type: "state", values: many, continue: true, height: 1e12 }, "*");
  const huge = "x".repeat(10 * 1024 * 1024);
  host.postMessage({ gymkube: "page", type: "state", values: { huge }, continue: true, height: 50 }, "*");
  const long = "y".repeat(10000);
  for (let i = 0; i < 2000; i++) {
    host.postMessage({ gymkube: "page", type: "violation", directive: "d" + i, blocked: long }, "*");
  }
  // The bridge itself, asked to carry too much: one value of 10 MB and 10,000 values.
  gymkube.setValue("huge", huge);
  for (let i = 0; i < 10000; i++) gymkube.setValue("v" + i, i);
</script>
"""

EVIL_FILE = """<!doctype html><title>file</title>
<script>
  document.title = "origin " + self.origin;
  try { document.cookie; document.title += " cookie readable"; } catch (e) { document.title += " cookie " + e.name; }
</script>"""


def test_a_page_script_reaches_nothing_of_the_study_and_hostile_messages_are_bounded(platform_factory, tmp_path: Path):
    scenes = [
        {"type": "static", "id": "probe", "html": "PROBE_PAGE"},
        {"type": "static", "id": "hostile", "html": HOSTILE},
        {"type": "end"},
    ]
    files = {"evil.html": EVIL_FILE, "dot.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'}
    platform = platform_factory(experiment(tmp_path, scenes, files))
    refusals: list[str] = []
    requests: list[str] = []
    sockets: list[str] = []
    errors: list[str] = []
    with chromium(csp_refusals=refusals) as browser:
        context = browser.new_context()
        context.add_cookies([COOKIE])
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        def fill_in_addresses(route: Route) -> None:  # the spec is written before the platform has its ports
            pod_ws = "ws" + origin(route.request.url).removeprefix("http")
            response = route.fetch()
            probe = PROBE.replace("CONTROL", platform.base).replace("POD_WS", pod_ws)
            route.fulfill(response=response, body=response.text().replace("PROBE_PAGE", probe))

        page.route(re.compile(r"/page\?scene=probe$"), fill_in_addresses)
        page.goto(platform.entry("pages", PROLIFIC_PID="prober"))
        page.on("request", lambda r: requests.append(r.url))
        page.on("websocket", lambda w: sockets.append(w.url))
        pod, token = origin(page.url), parse_qs(urlsplit(page.url).query)["t"][0]
        assert COOKIE["value"] in page.evaluate("document.cookie")  # the study's page can read it; the frame must not
        page_frame(page, "probe")
        page.wait_for_timeout(1000)  # the page's fetches and socket settle
        click_settled(page, "#continue")

        page_frame(page, "hostile")
        page.wait_for_timeout(500)
        height = page.evaluate("document.querySelector('iframe.page-frame').getBoundingClientRect().height")
        click_settled(page, "#continue")
        page.wait_for_selector("#completion-code")

        direct = context.new_page()
        direct.goto(f"{pod}/files/evil.html")
        file_title = direct.title()

    platform.stop()  # no game here: nothing to replay
    data = platform.tables("pages")
    probed = answers(data, "probe")
    probe = json.loads(probed["probe"])
    assert probe["cookie"] == "threw SecurityError"
    assert probe["parentDocument"] == probe["parentUrl"] == probe["topUrl"] == "threw SecurityError"
    assert probe["storage"] == "threw SecurityError"
    assert probe["origin"] == "null" and probe["referrer"] == ""
    assert probed["fetchEntry"] == probed["fetchPod"] == "failed TypeError"
    assert probed["socket"] in ("error", "threw SecurityError")
    everything = json.dumps(probed)
    assert COOKIE["value"] not in everything and token not in everything
    # None of the fetches, the beacon (queued, then refused) or the socket left the browser; what the page may
    # load (its image from files/) did, so these lists do see the frame's requests.
    assert any(u.endswith("/files/dot.svg") for u in requests)
    assert not [u for u in requests if "/x/" in u or u.endswith("/load")]
    assert sockets and not [u for u in sockets if "probe=1" in u]
    assert any("connect-src" in r for r in refusals)
    assert any("connect-src" in message for message in client_errors(data)), "the page's CSP refusals are recorded"

    hostile = answers(data, "hostile")
    # The 10 MB value is dropped, and names past the first PAGE_LIMITS["fields"] are not looked at.
    assert hostile == {f"v{i}": i for i in range(PAGE_LIMITS["fields"] - 1)}
    assert 0 < height < 1000 and not errors
    problems = client_errors(data)
    assert any("not a page state" in m for m in problems) and any("not recorded" in m for m in problems)
    assert len(problems) <= 40, "a flood of messages is reported a bounded number of times"

    assert file_title == "origin null cookie SecurityError"


HANDLER = '<img src="missing.png" onerror="window.pwned = (window.pwned || 0) + 1"><script>window.pwned = 100</script>'


def test_researcher_html_outside_static_pages_runs_no_code_in_the_study_origin(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "cartpole.yaml", episodes=1, maxSteps=15)
    document = yaml.safe_load(manifest.read_text())
    scenes = document["spec"]["scenes"]
    survey = next(s for s in scenes if s["type"] == "survey")
    survey["html"] = f'<p style="color: #a4261c; position: fixed">Almost done</p>{HANDLER}'
    next(s for s in scenes if s["type"] == "gym")["instructions"] = f"<p>Play</p>{HANDLER}"
    scenes[-1]["html"] = f"<h2>Thanks</h2>{HANDLER}"
    document["spec"]["scenes"] = [s for s in scenes if s["type"] != "static"]
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    platform = platform_factory(manifest)
    refusals: list[str] = []
    with chromium(csp_refusals=refusals) as browser:
        page = browser.new_page()
        page.goto(platform.entry("cartpole", PROLIFIC_PID="reader"))
        page.wait_for_selector("#instructions img", state="attached", timeout=15_000)  # a broken image may be 0x0
        page.wait_for_timeout(300)
        assert page.evaluate("window.pwned") is None
        page.wait_for_selector("#scene[data-scene-type='survey']", timeout=15_000)
        intro = page.locator("#scene .content p")
        assert intro.get_attribute("style") == "color:#a4261c"  # colours are kept, layout tricks are not
        for name in page.eval_on_selector_all("#scene input[type=radio]", "els => [...new Set(els.map(e => e.name))]"):
            page.locator(f"#scene input[type=radio][name='{name}']").first.check()
        page.locator("#scene input[type=number]").fill("3")
        click_settled(page, "#continue")
        page.wait_for_selector("#completion-code")
        page.wait_for_timeout(300)
        assert page.evaluate("window.pwned") is None
        assert refusals == [], "the pod's sanitiser left nothing for the CSP to refuse"

        # Past a sanitiser, the page's CSP still runs no handler, and says so in the data.
        page.evaluate("""document.body.insertAdjacentHTML('beforeend', '<img src="x" onerror="window.pwned = 1">')""")
        # A srcdoc frame takes on the study page's CSP: its inline script would not run, so pages use a URL.
        page.evaluate("""() => {
            window.addEventListener('message', (e) => { if (e.data === 'srcdoc ran') window.srcdocRan = true; });
            const frame = document.createElement('iframe');
            frame.sandbox = 'allow-scripts';
            frame.srcdoc = "<script>parent.postMessage('srcdoc ran', '*')</script>";
            document.body.append(frame);
        }""")
        page.wait_for_timeout(1000)
        assert page.evaluate("window.pwned") is None and page.evaluate("window.srcdocRan") is None
        assert any("script-src-attr" in r or "inline event handler" in r for r in refusals), refusals
        assert any("inline script" in r for r in refusals), refusals
        page.wait_for_timeout(1200)  # the reports reach the pod

    data = platform.finish("cartpole")
    assert any("script-src" in m for m in client_errors(data))
