"""A few SVG primitives for the book's diagrams: boxes, arrows, labels and matrices with shapes.

Every diagram is written as Python that emits SVG text, so its source is text in the repository and
it builds with no network and no external program. The SVG is inlined into the page, so:

- its text is real text (sharp at any zoom, found by the browser's find and the book's search);
- it follows the theme: text and neutral strokes use ``currentColor``, and the root sets
  ``color: var(--qkv-ink, ...)``, a custom property that qkv-diagrams.css maps onto the theme's text
  colour (which pydata-sphinx-theme switches under ``html[data-theme="dark"]``);
- the coloured parts use the palette (``src/qkv/palette.json``) only, as strokes and light tints that
  read on both a white and a near-black page, never as the colour of text.
"""

from __future__ import annotations

import json
import math
import re
from contextlib import contextmanager
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PALETTE = json.loads((ROOT / "src" / "qkv" / "palette.json").read_text(encoding="utf-8"))
ROLES = PALETTE["roles"]

INK = "currentColor"  # text and neutral strokes: the root's colour, var(--qkv-ink)
MUTED = "var(--qkv-muted, #48566b)"  # secondary text (shapes), the theme's muted text colour
PAPER = "var(--qkv-paper, #fff)"  # the page background (to mask a line behind a label)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
TINT = 0.14  # fill opacity of a coloured box: a tint that keeps ink text readable in both modes


def colour(role):
    """A palette role ("query", "key", ...) as its hex colour; a hex colour or a CSS value unchanged."""
    if role is None:
        return "none"
    return ROLES.get(role, role)


def _fmt(v):
    return f"{v:.1f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


_MARKUP = re.compile(r"\\([_^])|([_^])(\{[^}]*\}|.)")  # a backslash escapes: r"\_" is a literal _


def rich(text, size=13):
    """Text with ``_x``/``_{xy}`` subscripts and ``^x``/``^{xy}`` superscripts as SVG tspans.

    ``\\_`` and ``\\^`` are a literal underscore and caret (``masked\\_fill``).

    Shifts are in user units (not em, which would follow each tspan's own font size), so the text
    after a subscript returns exactly to the baseline.
    """
    out, pos, cur = [], 0, 0.0

    def normal(s):
        nonlocal cur
        if s and cur:
            out.append(f'<tspan dy="{_fmt(-cur)}">{escape(s)}</tspan>')
            cur = 0.0
        elif s:
            out.append(escape(s))

    for m in _MARKUP.finditer(text):
        if m.group(1):  # an escaped _ or ^: literal text
            normal(text[pos : m.start()] + m.group(1))
            pos = m.end()
            continue
        normal(text[pos : m.start()])
        body = m.group(3)[1:-1] if m.group(3).startswith("{") else m.group(3)
        target = 0.3 * size if m.group(2) == "_" else -0.42 * size
        out.append(f'<tspan dy="{_fmt(target - cur)}" font-size="72%">{escape(body)}</tspan>')
        cur, pos = target, m.end()
    normal(text[pos:])
    return "".join(out)


def plain(text):
    """The text a reader (or a screen reader) sees: the markup of :func:`rich` removed."""
    return _MARKUP.sub(lambda m: m.group(1) or m.group(3).strip("{}"), text)


class Drawing:
    """An SVG being drawn: shapes are appended in order and the view box grows to hold them."""

    def __init__(self, title, desc, size=13):
        self.title, self.desc, self.size = title, desc, size
        self.parts: list[str] = []
        self.x0 = self.y0 = math.inf
        self.x1 = self.y1 = -math.inf

    # -- bookkeeping
    def _grow(self, x0, y0, x1, y1):
        self.x0, self.y0 = min(self.x0, x0, x1), min(self.y0, y0, y1)
        self.x1, self.y1 = max(self.x1, x0, x1), max(self.y1, y0, y1)

    def raw(self, markup):
        self.parts.append(markup)

    @contextmanager
    def group(self, href=None, label=None, **attrs):
        """A ``<g>`` (or, with ``href``, a link ``<a>`` whose accessible name is ``label``)."""
        attr = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items() if v is not None)
        if href:
            self.parts.append(f'<a href="{escape(href)}"{attr}>' + (f"<title>{escape(label)}</title>" if label else ""))
        else:
            self.parts.append(f"<g{attr}>")
        yield
        self.parts.append("</a>" if href else "</g>")

    # -- shapes
    def rect(self, x, y, w, h, role=None, *, tint=TINT, stroke=None, width=1.5, rx=6, dash=None, fill=None):
        stroke = colour(stroke if stroke is not None else role) if (stroke or role) else INK
        fill = fill or (colour(role) if role else "none")
        extra = f' fill-opacity="{tint}"' if role and fill != "none" and not fill.startswith("var(") else ""
        extra += f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" height="{_fmt(h)}" rx="{rx}" '
            f'fill="{fill}"{extra} stroke="{stroke}" stroke-width="{width}"/>'
        )
        self._grow(x - width, y - width, x + w + width, y + h + width)

    def circle(self, cx, cy, r, role=None, *, width=1.5, tint=TINT):
        fill = f'fill="{colour(role)}" fill-opacity="{tint}"' if role else 'fill="none"'
        self.parts.append(
            f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{r}" {fill} stroke="{colour(role) if role else INK}" stroke-width="{width}"/>'
        )
        self._grow(cx - r - width, cy - r - width, cx + r + width, cy + r + width)

    def text(self, x, y, s, *, size=None, anchor="middle", weight=None, muted=False, italic=False):
        size = size or self.size
        attrs = f' font-size="{size}"' if size != self.size else ""
        attrs += f' text-anchor="{anchor}"' if anchor != "middle" else ""
        attrs += f' font-weight="{weight}"' if weight else ""
        attrs += ' font-style="italic"' if italic else ""
        attrs += f' style="fill:{MUTED}"' if muted else ""
        self.parts.append(f'<text x="{_fmt(x)}" y="{_fmt(y)}"{attrs}>{rich(s, size)}</text>')
        w = len(plain(s)) * size * 0.58
        left = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        self._grow(left, y - size, left + w, y + size * 0.35)

    def line(self, points, *, role=None, width=1.5, dash=None, arrow=True, head=7):
        """A polyline through ``points`` [(x, y), ...], with an arrowhead at the last point."""
        stroke = colour(role) if role else INK
        pts = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)
        d = f' stroke-dasharray="{dash}"' if dash else ""
        (xa, ya), (xb, yb) = points[-2], points[-1]
        if arrow:  # stop the line at the arrowhead's base, so a thick line does not poke through its tip
            L = math.hypot(xb - xa, yb - ya) or 1
            ux, uy = (xb - xa) / L, (yb - ya) / L
            trimmed = list(points[:-1]) + [(xb - ux * head * 0.8, yb - uy * head * 0.8)]
            pts = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in trimmed)
        self.parts.append(
            f'<polyline points="{pts}" fill="none" stroke="{stroke}" stroke-width="{width}"{d} stroke-linejoin="round"/>'
        )
        for x, y in points:
            self._grow(x, y, x, y)
        if arrow:
            px, py = -uy, ux
            tip = (xb, yb)
            a = (xb - ux * head + px * head * 0.5, yb - uy * head + py * head * 0.5)
            b = (xb - ux * head - px * head * 0.5, yb - uy * head - py * head * 0.5)
            self.parts.append(
                f'<polygon points="{_fmt(tip[0])},{_fmt(tip[1])} {_fmt(a[0])},{_fmt(a[1])} {_fmt(b[0])},{_fmt(b[1])}" fill="{stroke}"/>'
            )

    def arrow(self, x0, y0, x1, y1, **kw):
        self.line([(x0, y0), (x1, y1)], **kw)

    # -- composites
    def box(self, x, y, w, h, label, role=None, *, sub=None, weight="600", highlight=False, size=None, rx=6):
        """A labelled box (tinted with a palette role), with an optional second, muted line ``sub``."""
        if highlight:
            self.rect(x, y, w, h, "highlight", tint=0.22, width=3, rx=rx)
        else:
            self.rect(x, y, w, h, role, rx=rx)
        size = size or self.size
        if sub:
            self.text(x + w / 2, y + h / 2 - 2, label, weight=weight, size=size)
            self.text(x + w / 2, y + h / 2 + size - 1, sub, muted=True, size=size - 1.5)
        elif label:
            self.text(x + w / 2, y + h / 2 + size * 0.35, label, weight=weight, size=size)

    def matrix(self, x, y, rows, cols, role, *, cell=11, name=None, shape=None, blocks=None, strong=(), values=None):
        """A matrix drawn as a grid of ``rows`` x ``cols`` cells, its name and shape written under it.

        ``blocks``: a list of (first column, last column + 1, label) that split the columns into
        separated, labelled blocks (the heads). ``strong``: the (row, column) cells drawn solid.
        ``values``: numbers written in the cells (then ``cell`` should be wide enough).
        Returns the (x, y, width, height) of the grid.
        """
        cw = cell if values is None else cell * 3.4
        gap = 4 if blocks else 0
        starts = {b[0] for b in (blocks or [])} - {0}
        xs, cx = [], x
        for c in range(cols):
            if c in starts:
                cx += gap
            xs.append(cx)
            cx += cw
        width, height = cx - x, rows * cell
        col = colour(role)
        # The cells share one group's colours (a matrix is many cells: keep each one short).
        self.parts.append(f'<g fill="{col}" fill-opacity="0.16" stroke="{col}" stroke-width="0.8">')
        for r in range(rows):
            for c in range(cols):
                op = ' fill-opacity="0.8"' if (r, c) in strong else ""
                self.parts.append(
                    f'<rect x="{_fmt(xs[c])}" y="{_fmt(y + r * cell)}" width="{_fmt(cw)}" height="{cell}"{op}/>'
                )
        self.parts.append("</g>")
        for r in range(rows):
            for c in range(cols):
                if values is not None:
                    self.text(
                        xs[c] + cw / 2,
                        y + r * cell + cell * 0.68,
                        f"{values[r][c]:.2f}".replace("-", "\u2212"),
                        size=cell * 0.6,
                    )
        for b0, b1, lab in blocks or []:
            self.text((xs[b0] + xs[b1 - 1] + cw) / 2, y - 5, lab, size=self.size - 2, muted=True)
        self.rect(x, y, width, height, None, stroke=col, width=1.5, rx=0)
        below = y + height + self.size + 3
        if name:
            self.text(x + width / 2, below, name, weight="600")
            below += self.size + 1
        if shape:
            self.text(x + width / 2, below, shape, muted=True, size=self.size - 1.5)
        return x, y, width, height

    # -- output
    def svg(self, uid, *, role="img", pad=10):
        """The SVG element, with ``<title>``/``<desc>`` referenced by ``aria-labelledby`` under ``uid``."""
        x0, y0 = math.floor(self.x0 - pad), math.floor(self.y0 - pad)
        w, h = math.ceil(self.x1 + pad) - x0, math.ceil(self.y1 + pad) - y0
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0} {y0} {w} {h}" width="{w}" height="{h}" '
            f'role="{role}" aria-labelledby="{uid}-title {uid}-desc" font-family="{FONT}" font-size="{self.size}" text-anchor="middle" '
            f'fill="currentColor" style="color:var(--qkv-ink, #222832)">'
            f'<title id="{uid}-title">{escape(self.title)}</title><desc id="{uid}-desc">{escape(self.desc)}</desc>'
            + "".join(self.parts)
            + "</svg>"
        )
