"""What the widget modules share: where their front-end files are, and how arrays are shipped.

Arrays go to the browser as bytes traits (saved into the page as base64 buffers): 16-bit integers,
``value = integer / scale``. Two bytes a number keeps a page's saved widget data small, and a value
that is already a multiple of ``1 / scale`` arrives exactly. ``-32768`` stands for "not a number".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

try:
    import anywidget
    import traitlets
    from ipywidgets.widgets.trait_types import TypedTuple
except ImportError as error:  # pragma: no cover - the book's environment has them
    raise ImportError('qkv.widgets needs anywidget and ipywidgets: pip install "qkv[widgets]"') from error

HERE = Path(__file__).parent
CSS = HERE / "widgets.css"
SHARED_JS = HERE / "shared.js"
PALETTE_JSON = HERE.parent / "palette.json"
INT16_MAX = 32767
NAN_CODE = -32768


def shipped(source):
    r"""``source`` (JavaScript or CSS) as a page saves it: without comment lines, blank lines or indentation.

    Every widget saves its own copy of the module and the stylesheet into the page, so the comments
    (the files' documentation, a third of their size) would cost the page that much again per widget.
    Only whole-line comments go (``//`` lines and ``/* ... */`` blocks that start a line), so no
    string is touched; no line break falls inside a string or template literal in these files.

    >>> shipped("// a note\nconst x = 1; // kept\n  /* a\n  block */\n\n  f(x);\n")
    'const x = 1; // kept\nf(x);\n'
    """
    lines, comment = [], False
    for line in source.splitlines():
        text = line.strip()
        if comment or text.startswith("/*"):
            comment = not text.endswith("*/")
        elif text and not text.startswith("//"):
            lines.append(text)
    return "\n".join(lines) + "\n"


def palette_js():
    """``const PALETTE = {...};``: the book's palette (src/qkv/palette.json, less its comment) as JavaScript.

    >>> palette_js().startswith("const PALETTE = {")
    True
    """
    palette = json.loads(PALETTE_JSON.read_text(encoding="utf-8"))
    palette = {k: v for k, v in palette.items() if not k.startswith("_")}
    return f"const PALETTE = {json.dumps(palette)};\n"


def front_end(name):
    """The ES module of the widget whose front end is ``name.js``: the palette, shared.js, then ``name.js``.

    anywidget loads a module from a string, so a front end cannot import a sibling file: the palette
    (as ``const PALETTE``) and the helpers every front end uses (shared.js) travel in front of each
    widget's own code instead, as one module (comments left out, see ``shipped``).

    >>> module = front_end("norms")
    >>> module.startswith(palette_js() + shipped(SHARED_JS.read_text(encoding="utf-8")))
    True
    >>> module.rstrip().endswith("export default { render };")
    True
    """
    own = (HERE / f"{name}.js").read_text(encoding="utf-8")
    return palette_js() + shipped(SHARED_JS.read_text(encoding="utf-8")) + shipped(own)


class QKVWidget(anywidget.AnyWidget):
    """The base of the qkv widgets: the shared stylesheet, and the classes every Jupyter widget view has.

    ``jupyter-widgets`` and ``widget-container`` are the classes ipywidgets gives its own views (and
    which pages and tests look for); ``qkv-anywidget`` lets widgets.css undo their margin and colour.
    """

    _css = shipped(CSS.read_text(encoding="utf-8"))
    _dom_classes = TypedTuple(
        trait=traitlets.Unicode(), default_value=("jupyter-widgets", "widget-container", "qkv-anywidget")
    ).tag(sync=True)

    @property
    def payload_bytes(self):
        """Bytes of array data (bytes traits) this widget saves into a page, before base64."""
        return sum(len(getattr(self, name)) for name, trait in self.traits(sync=True).items()
                   if isinstance(trait, traitlets.Bytes))


def to_numpy(x, name):
    """A float64 numpy array from a tensor, array or nested list; TypeError for anything else."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: expected a tensor or an array of numbers, got {type(x).__name__}") from error


def int16_bytes(values, scale, name="values"):
    """``round(values * scale)`` as little-endian int16 bytes; NaN becomes ``NAN_CODE``.

    >>> int16_bytes([0.5, -1.0, float("nan")], scale=2)
    b'\\x01\\x00\\xfe\\xff\\x00\\x80'
    """
    a = to_numpy(values, name).ravel() * scale
    finite = np.isfinite(a)
    if np.isinf(a).any():
        raise ValueError(f"{name}: infinite values cannot be shipped; encode them before")
    if finite.any() and np.abs(a[finite]).max() > INT16_MAX + 0.5:
        largest = np.abs(a[finite]).max() / scale
        raise ValueError(f"{name}: values times {scale} exceed the 16-bit range (max |value| {largest:.4g})")
    out = np.where(finite, np.round(np.where(finite, a, 0.0)), NAN_CODE).astype("<i2")
    return out.tobytes()


def from_int16_bytes(data, scale, count=-1, offset=0):
    """The inverse of ``int16_bytes`` (what the browser decodes), as float64 with NaN restored.

    ``count`` values (default: all) from the ``offset``-th value on, for one block of several shipped
    in one bytes trait.

    >>> from_int16_bytes(int16_bytes([0.5, -1.0, float("nan")], scale=2), scale=2)
    array([ 0.5, -1. ,  nan])
    >>> from_int16_bytes(int16_bytes([0.5, -1.0, float("nan")], scale=2), scale=2, count=1, offset=1)
    array([-1.])
    """
    ints = np.frombuffer(data, dtype="<i2", count=count, offset=2 * offset)
    return np.where(ints == NAN_CODE, np.nan, ints / scale)


def unit_scale(values):
    """The scale that maps the largest |value| onto the int16 range (as for a largest |value| of 1 if all are 0).

    >>> unit_scale([0.5, -2.0]), unit_scale([0.0])
    (16383.5, 32767.0)
    """
    a = to_numpy(values, "values")
    largest = float(np.abs(a[np.isfinite(a)]).max()) if np.isfinite(a).any() else 0.0
    return INT16_MAX / (largest if largest > 0 else 1.0)


def rounded(values, decimals=4):
    """Nested lists of floats rounded to ``decimals``, for small JSON traits (finite values only).

    >>> rounded([[0.123456, 1.0]])
    [[0.1235, 1.0]]
    """
    a = to_numpy(values, "values")
    if not np.isfinite(a).all():
        raise ValueError("values: expected finite numbers only")
    return np.round(a, decimals).tolist()
