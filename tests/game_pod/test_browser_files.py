"""What the pod serves a browser game: the vendored runtimes (gzipped, cached for good), the game's code, its files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import yaml
from conftest import EXAMPLES, game_pod_process

from gymkube.game_pod.browser import ORT, PYODIDE

VENDOR = Path(__file__).resolve().parents[2] / "gymkube" / "static" / "vendor"


def test_the_pod_serves_what_a_browser_game_loads(tmp_path: Path) -> None:
    document = yaml.safe_load((EXAMPLES / "pong_client.yaml").read_text())
    with (
        game_pod_process(tmp_path, document, bundle_dir=str(EXAMPLES / "pong")) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        wasm = http.get(f"/static/vendor/{PYODIDE}/pyodide.asm.wasm", headers={"Accept-Encoding": "gzip"})
        assert wasm.headers["content-encoding"] == "gzip" and wasm.headers["content-type"] == "application/wasm"
        assert int(wasm.headers["content-length"]) < 0.4 * (VENDOR / PYODIDE / "pyodide.asm.wasm").stat().st_size
        assert wasm.content == (VENDOR / PYODIDE / "pyodide.asm.wasm").read_bytes()
        assert "immutable" in wasm.headers["cache-control"]
        plain = http.get(f"/static/vendor/{ORT}/ort.wasm.min.mjs", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.headers["content-type"].startswith("text/javascript")
        stdlib = http.get(f"/static/vendor/{PYODIDE}/python_stdlib.zip", headers={"Accept-Encoding": "gzip"})
        assert stdlib.status_code == 200 and "content-encoding" not in stdlib.headers  # zip: no gzipped copy
        for bad in (f"/static/vendor/{PYODIDE}/pyodide.asm.wasm.gz", "/static/vendor/..%2F..%2Fgame_pod%2Fapp.py"):
            assert http.get(bad).status_code == 404, bad

        code = http.get("/client/runtime.zip")
        names = zipfile.ZipFile(io.BytesIO(code.content)).namelist()
        assert {"gymkube/portable/sim.py", "gymkube/portable/rollback.py", "bundle/pong_env.py"} <= set(names)
        assert not any(n.endswith(".onnx") or "game_pod" in n for n in names)  # models separately; no pod code
        model = http.get("/client/files/policy.onnx")
        assert model.content == (EXAMPLES / "pong" / "policy.onnx").read_bytes()
        assert http.get("/client/files/../pong_client.yaml").status_code == 404


def policy(response: httpx.Response) -> dict[str, str]:
    """A response's Content-Security-Policy as {directive: sources}."""
    directives = (d.strip().partition(" ") for d in response.headers["content-security-policy"].split(";"))
    return {name: sources for name, _, sources in directives}


def test_every_page_the_pod_serves_carries_a_policy_and_researcher_pages_a_sandbox(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "consent.html").write_text("<p>From a file <script src='files/consent.js'></script></p>")
    (bundle / "consent.js").write_text("gymkube.setContinue(false);")
    (bundle / "notes.html").write_text("<script>parent.postMessage('hi', '*')</script>")
    document = yaml.safe_load((EXAMPLES / "pong_client.yaml").read_text())
    document["spec"]["bundle"] = str(bundle)
    document["spec"]["scenes"][:1] = [
        {"type": "static", "id": "inline", "html": "<p>Inline</p>"},
        {"type": "static", "id": "from-file", "file": "consent.html"},
    ]
    settings = {"bundle_dir": str(bundle), "pyodide_url": "https://cdn.example.org/py/"}
    settings["base_path"] = "/play/x/{ordinal}"
    with game_pod_process(tmp_path, document, **settings) as port, httpx.Client(timeout=30) as http:
        pod = f"http://127.0.0.1:{port}/play/x/0/"  # as on Kubernetes: one host, each pod below its own path
        http.base_url = httpx.URL(pod)
        index = policy(http.get(""))
        assert index["default-src"] == "'self'" and "unsafe-inline" not in index["script-src"]
        assert index["script-src"] == "'self' 'wasm-unsafe-eval' https://cdn.example.org"
        # Requests and the socket only below the pod's path: not /x/, /api, /admin, nor other experiments' pods.
        assert index["connect-src"] == f"{pod} ws{pod.removeprefix('http')} https://cdn.example.org"
        assert index["frame-src"] == "'self'"
        for path in ("static/index.html", "static/js/main.js", "load"):
            assert policy(http.get(path)) == index, path

        inline, from_file = http.get("page?scene=inline"), http.get("page?scene=from-file")
        for page in (inline, from_file):
            framed = policy(page)
            assert framed["sandbox"] == "allow-scripts allow-forms allow-popups"
            assert framed["default-src"] == "'none'" and framed["connect-src"] == "'none'"
            assert framed["script-src"] == f"'unsafe-inline' {pod}files/" and framed["frame-ancestors"] == "'self'"
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["referrer-policy"] == "no-referrer"
            assert page.text.index("window.gymkube = ") < page.text.index("<body>")  # the bridge comes first
        assert "<p>Inline</p>" in inline.text and "From a file" in from_file.text
        for missing in ("page?scene=pong", "page?scene=nope", "page", "page?scene=end"):
            assert http.get(missing).status_code == 404, missing

        notes = http.get("files/notes.html")
        assert notes.headers["content-type"].startswith("text/html")
        assert policy(notes)["sandbox"].startswith("allow-scripts") and policy(notes)["connect-src"] == "'none'"
        script = http.get("files/consent.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers["x-content-type-options"] == "nosniff"
        assert http.get("files/../experiment.json").status_code == 404
        # A forged Host header cannot write directives into the policy.
        assert policy(http.get("", headers={"Host": "evil; script-src *"})) == index
