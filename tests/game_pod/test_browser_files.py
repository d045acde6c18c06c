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
