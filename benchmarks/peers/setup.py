"""Install the prior tools the capacity benchmark compares with, one virtualenv each, from PyPI.

Run: `python benchmarks/peers/setup.py` (`make bench` does). Each peer gets its own venv under
`benchmarks/.peers/<name>/` (ignored by git); a stamp file holding the pinned requirements makes a
second run a no-op. Pins beyond the peer's own version keep pip from backtracking for minutes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parents[1] / ".peers"

PEERS: dict[str, list[str]] = {
    "interactive-gym": ["interactive-gym[server]==0.1.1", "gymnasium>=1,<2", "python-dateutil<3", "psutil"],
    "mug": ["multi-user-gymnasium[server]==0.1.3", "python-dateutil<3", "psutil"],
}


def peer_python(name: str) -> Path:
    """The interpreter of a peer's virtualenv."""
    return PEERS_DIR / name / "bin" / "python"


def install(name: str, requirements: list[str]) -> None:
    """Create the peer's venv and install its pinned requirements, unless the stamp says it is done."""
    venv = PEERS_DIR / name
    stamp = venv / ".installed"
    wanted = "\n".join(requirements)
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"[peers] {name}: already installed ({venv})", flush=True)
        return
    started = time.monotonic()
    if not peer_python(name).exists():
        print(f"[peers] {name}: creating {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print(f"[peers] {name}: pip install {' '.join(requirements)}", flush=True)
    pip = [str(peer_python(name)), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "--quiet", "--progress-bar", "off", *requirements], check=True)
    stamp.write_text(wanted)
    print(f"[peers] {name}: installed in {time.monotonic() - started:.0f} s", flush=True)


def main() -> None:
    """Install every peer (or only those named on the command line)."""
    names = sys.argv[1:] or list(PEERS)
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        install(name, PEERS[name])


if __name__ == "__main__":
    main()
