"""How far a chapter's pinned numbers move between CPUs, measured by running it on several of PyTorch's CPU paths.

A fixed seed makes a chapter print the same numbers twice on one machine, not on two: PyTorch picks its
vector kernels (ATen: AVX2 or AVX-512) and MKL its matrix-product code by the CPU, and a training run
amplifies the last-bit differences (chapter 3's unscaled training: final loss 0.90 on an AMD EPYC with
AVX2, 1.07 on a Xeon with AVX-512, same seed, same wheel). CI runs on either. This script executes each
notebook in a fresh kernel under each CPU path this machine can take (forced with ATEN_CPU_CAPABILITY,
MKL_CBWR and ONEDNN_MAX_CPU_ISA), and prints, for every pinned number that moved, its range and the
tolerance that would cover it (1.5 times the largest distance from the pin, at least the pin's own).
With --write it sets those tolerances in tests/notebooks/pins/<notebook>.json. A string pin that moves
cannot be given a tolerance: the script names it; glue the numbers it is made of instead.

Usage: python scripts/pin_spread.py book/03_scaling.ipynb [more notebooks] [--write]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "tests" / "notebooks" / "pins"
# The CPU paths: this machine's default, and the ones other CI machines take (AVX2 on AMD EPYC).
PATHS = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx2, MKL compatible": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
RUN_ONE = """
import json, sys
import nbformat
from nbclient import NotebookClient
sys.path.insert(0, "tests/notebooks"); sys.path.insert(0, "tests")
from test_notebooks import glued_values, TIMEOUT
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": "book"}}).execute()
print(json.dumps(glued_values(nb)))
"""


def glued_on(path: Path, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN_ONE, str(path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env})
    if done.returncode != 0:
        raise RuntimeError(f"{path.name} under {env or 'the default path'} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    write = "--write" in argv
    notebooks = [Path(a) for a in argv[1:] if a != "--write"]
    if not notebooks:
        print(__doc__, file=sys.stderr)
        return 2
    status = 0
    for path in notebooks:
        pin_file = PINS / f"{path.stem}.json"
        pins = json.loads(pin_file.read_text())
        runs = {}
        for name, env in PATHS.items():
            print(f"pin_spread: {path.name} on the {name} path ...", flush=True)
            runs[name] = glued_on(path, env)
        for key, pin in pins.items():
            values = [r[key] for r in runs.values() if key in r]
            if isinstance(pin["value"], str):
                if any(v != pin["value"] for v in values):
                    print(f"pin_spread: {path.stem}: {key}: string pin {pin['value']!r} moved: {values}; glue numbers")
                    status = 1
                continue
            worst = max(abs(v - pin["value"]) for v in values)
            if worst > pin.get("abs", 0.0):
                needed = float(f"{1.5 * worst:.2g}")
                print(f"pin_spread: {path.stem}: {key}: pinned {pin['value']:.6g} ± {pin.get('abs', 0.0):.3g}, "
                      f"runs {min(values):.6g} to {max(values):.6g}: needs ± {needed:.3g}")
                if write:
                    pin["abs"] = max(needed, pin.get("abs", 0.0))
        if write:
            pin_file.write_text(json.dumps(pins, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
