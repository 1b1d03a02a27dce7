"""Write every diagram to a folder as a standalone SVG and print its size: `python book/_ext -m ...`.

.venv/bin/python -c "import sys; sys.path.insert(0, 'book/_ext'); import runpy; runpy.run_module('qkv_diagrams', run_name='__main__')" _build/diagrams
"""

import sys
from pathlib import Path

from qkv_diagrams import render

out = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/diagrams")
out.mkdir(parents=True, exist_ok=True)
from qkv_diagrams.figures import DIAGRAMS  # noqa: E402

for name in DIAGRAMS:
    svg = render(name, uid=f"qkv-{name}")
    (out / f"{name}.svg").write_text(svg, encoding="utf-8")
    print(f"{name:20s} {len(svg.encode()):7d} bytes")
