"""Run a snippet in a fresh Python process with a chosen hash seed: the determinism tests compare
what several such processes print, so nothing may depend on hash randomisation or process state."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_json(code: str, hash_seed: str, timeout: int = 120):
    """`code` must print one JSON document; returns it parsed."""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}, check=True,
    )
    return json.loads(out.stdout)
