"""The book's diagrams: one function per diagram, each returning a :class:`~qkv_diagrams.svg.Drawing`.

``DIAGRAMS`` maps a diagram's name (what ``{diagram} name`` takes) to its function. The architecture
map links its blocks to the chapters that explain them through ``LINKS``, the one table of where each
block is explained: a block whose chapter is not written yet maps to ``None`` and is drawn unlinked.
"""

from __future__ import annotations

import math

from .svg import ROLES, Drawing, colour

# Where each block of the architecture map is explained: block -> Sphinx document name, or None while
# that chapter does not exist. The {diagram} directive checks that every document named here exists.
LINKS = {
    "embedding": "book/01_word_vectors",
    "attention": "book/02_self_attention",
    "scaling": "book/03_scaling",
    "multi-head": "book/04_multi_head",
    "positional-encoding": "book/05_positional_encoding",
    "add-norm": "book/06_normalization",
    "residual": "book/06_normalization",
    "masked-attention": "book/07_masking",
    "cross-attention": "book/09_transformer",
    "feed-forward": "book/09_transformer",
    "output": "book/09_transformer",
}

# What `:highlight:` accepts, and which blocks each name lights up ("multi-head": all three attention
# blocks are multi-head attention).
HIGHLIGHTS = {key: {key} for key in LINKS}
HIGHLIGHTS["multi-head"] = {"multi-head", "masked-attention", "cross-attention"}

# The step-through's sentence (qkv.widgets.stepthrough.EXAMPLE holds the same numbers; a unit test
# checks that they agree and that the numbers drawn here equal qkv's).
EXAMPLE = {
    "tokens": ["the", "cat", "sat", "down"],
    "X": [[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 1.0], [1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 2.0, 1.0]],
    "W_Q": [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
    "W_K": [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
    "W_V": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]],
}


def _matmul(a, b):
    return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]


def example_numbers(ex=EXAMPLE):
    """Q, K, V, the scores, scaled scores, weights and output of ``ex``, in plain Python."""
    Q, K, V = (_matmul(ex["X"], ex[w]) for w in ("W_Q", "W_K", "W_V"))
    S = _matmul(Q, [list(c) for c in zip(*K)])
    d_k = len(Q[0])
    scaled = [[s / math.sqrt(d_k) for s in row] for row in S]
    weights = []
    for row in scaled:
        top = max(row)
        e = [math.exp(s - top) for s in row]
        weights.append([v / sum(e) for v in e])
    return {"Q": Q, "K": K, "V": V, "scores": S, "scaled": scaled, "weights": weights, "output": _matmul(weights, V)}


def _num(x):
    return (f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))).replace("-", "\u2212")


def _vec(v):
    return "(" + ", ".join(_num(x) for x in v) + ")"


# ------------------------------------------------------------------------------------------ chapter 1


def embedding_lookup():
    vocab = ["apple", "orange", "banana", "phone", "computer", "king"]
    d = Drawing(
        "Looking up a word in an embedding table",
        "The token apple has id 0. Its one-hot vector, with a 1 in place 0, times the embedding table E "
        "(one row per word of a six-word vocabulary, four columns) picks out row 0 of E: apple's vector.",
    )
    c = 15
    top = 40
    d.box(0, top - 6, 62, 26, "apple", "query", rx=13)
    d.text(31, top + 44, "token", muted=True, size=11.5)
    d.arrow(64, top + 7, 92, top + 7)
    d.box(94, top - 6, 50, 26, "id 0", None)
    d.text(119, top + 44, "its number", muted=True, size=11.5)
    d.arrow(146, top + 7, 172, top + 7)
    # The one-hot row vector, its 1 drawn solid.
    d.matrix(176, top, 1, 6, "query", cell=c, name="one-hot e_0", shape="[1, V]", strong={(0, 0)})
    d.text(176 + c / 2, top - 5, "1", size=11)
    for j in range(1, 6):
        d.text(176 + c * j + c / 2, top - 5, "0", size=11, muted=True)
    d.text(284, top + 11, "\u00d7", size=18)
    # The table, one labelled row per word; row 0 solid.
    tx = 366
    for i, w in enumerate(vocab):
        d.text(
            tx - 6, top + i * c + c * 0.72, w, anchor="end", size=11.5, muted=i != 0, weight="600" if i == 0 else None
        )
    d.matrix(tx, top, 6, 4, "neutral", cell=c, name="E", shape="[V, d]", strong={(0, j) for j in range(4)})
    d.arrow(tx + 4 * c + 4, top + c / 2, tx + 4 * c + 36, top + c / 2)
    d.matrix(
        tx + 4 * c + 40,
        top,
        1,
        4,
        "query",
        cell=c,
        name="E_{0,:}",
        shape="[d]: apple's vector",
        strong={(0, j) for j in range(4)},
    )
    d.text(
        tx - 60,
        top + 6 * c + 52,
        "e_0^\u22a4 E = E_{0,:}: the one-hot product picks row 0, so a look-up is a matrix product",
        size=12,
        muted=True,
    )
    return d


def _mix(word, context, vectors):
    a, b = vectors[word], vectors[context]
    cos = lambda u, v: sum(x * y for x, y in zip(u, v)) / math.hypot(*u) / math.hypot(*v)
    ea, eb = math.exp(cos(a, a)), math.exp(cos(a, b))
    return [(ea * x + eb * y) / (ea + eb) for x, y in zip(a, b)]


def apple_2d():
    v = {"apple": (2.0, 2.0), "orange": (0.0, 3.0), "phone": (4.0, 0.0)}
    fruit, phone = _mix("apple", "orange", v), _mix("apple", "phone", v)
    d = Drawing(
        "Apple, orange and phone as vectors in two dimensions",
        f"apple = (2, 2), orange = (0, 3), phone = (4, 0). Mixed with orange by a softmax over cosine "
        f"similarities, apple moves to {_vec(fruit)}, towards orange; mixed with phone, to {_vec(phone)}, "
        f"towards phone.",
        size=12.5,
    )
    ox, oy, s = 50, 320, 62
    P = lambda x, y: (ox + x * s, oy - y * s)
    for k in range(1, 5):
        d.raw(
            f'<line x1="{ox + k * s}" y1="{oy}" x2="{ox + k * s}" y2="{oy - 3.6 * s:.0f}" stroke="{ROLES["neutral"]}" stroke-opacity=".35"/>'
        )
        d.text(ox + k * s, oy + 17, str(k), muted=True, size=11.5)
    for k in range(1, 4):
        d.raw(
            f'<line x1="{ox}" y1="{oy - k * s}" x2="{ox + 4.6 * s:.0f}" y2="{oy - k * s}" stroke="{ROLES["neutral"]}" stroke-opacity=".35"/>'
        )
        d.text(ox - 8, oy - k * s + 4, str(k), muted=True, size=11.5, anchor="end")
    d.text(ox - 8, oy + 17, "0", muted=True, size=11.5, anchor="end")
    d.arrow(ox, oy, ox + 4.7 * s, oy, width=1.2)
    d.arrow(ox, oy, ox, oy - 3.7 * s, width=1.2)
    # Dotted: how far each mix moved apple.
    for m in (fruit, phone):
        (x0, y0), (x1, y1) = P(*v["apple"]), P(*m)
        d.raw(
            f'<line x1="{x0}" y1="{y0}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{ROLES["query"]}" stroke-dasharray="2 3"/>'
        )
    for name, role in (("orange", "key"), ("phone", "value"), ("apple", "query")):
        d.line([P(0, 0), P(*v[name])], role=role, width=3, head=11)
    for m in (fruit, phone):
        d.line([P(0, 0), P(*m)], role="query", width=2, dash="6 4", head=10)
    d.text(*(a + b for a, b in zip(P(*v["apple"]), (8, 4))), "apple (2, 2)", anchor="start", weight="600")
    d.text(*(a + b for a, b in zip(P(*v["orange"]), (9, 4))), "orange (0, 3)", anchor="start", weight="600")
    d.text(*(a + b for a, b in zip(P(*v["phone"]), (0, -12))), "phone (4, 0)", anchor="middle", weight="600")
    d.text(*(a + b for a, b in zip(P(*fruit), (8, -6))), f"apple\u2032 with orange {_vec(fruit)}", anchor="start")
    d.text(*(a + b for a, b in zip(P(*phone), (9, 2))), f"apple\u2032 with phone {_vec(phone)}", anchor="start")
    d.text(
        ox - 20,
        oy + 44,
        "solid: the static vectors; dashed: apple mixed with its context,",
        anchor="start",
        muted=True,
        size=11.5,
    )
    d.text(ox - 20, oy + 60, "weights = softmax of the cosine similarities", anchor="start", muted=True, size=11.5)
    return d


# ------------------------------------------------------------------------------------------ chapter 2


def attention_flow():
    d = Drawing(
        "Self-attention as data flow, with shapes",
        "X, n rows of d_model numbers, is multiplied by W_Q, W_K and W_V into Q and K, n by d_k, and V, "
        "n by d_v. Q times K transposed gives the n by n scores, divided by the square root of d_k; a "
        "softmax along each row gives the weights, n by n, rows summing to 1; the weights times V give the "
        "output, n by d_v: one row per token.",
    )
    c = 11
    d.matrix(207, 10, 4, 6, "neutral", cell=c, name="X", shape="[n, d_{model}]: one row per token")
    y2 = 150
    for cx, role, name, w, shape in (
        (90, "query", "Q", "W_Q", "[n, d_k]"),
        (240, "key", "K", "W_K", "[n, d_k]"),
        (390, "value", "V", "W_V", "[n, d_v]"),
    ):
        d.line([(240, 96), (cx, y2 - 8)], role=role, width=1.8)
        d.matrix(cx - 1.5 * c, y2, 4, 3, role, cell=c, name=f"{name} = X {w}", shape=shape)
    d.text(118, 118, "\u00d7 W_Q", anchor="end", size=12)
    d.text(246, 124, "\u00d7 W_K", anchor="start", size=12)
    d.text(362, 118, "\u00d7 W_V", anchor="start", size=12)
    y3 = 285
    d.line([(90, y2 + 80), (152, y3 - 8)], role="query", width=1.8)
    d.line([(240, y2 + 80), (178, y3 - 8)], role="key", width=1.8)
    d.text(218, y3 - 24, "K^\u22a4", anchor="start", size=12)
    d.matrix(165 - 2 * c, y3, 4, 4, "neutral", cell=c, name="scores QK^\u22a4", shape="[n, n]: query i \u00b7 key j")
    y4 = y3 + 130
    d.arrow(165, y3 + 80, 165, y4 - 8, width=1.8)
    d.text(177, y3 + 108, "\u00f7 \u221ad_k", anchor="start", size=12.5, weight="600")
    d.matrix(165 - 2 * c, y4, 4, 4, "neutral", cell=c, name="scaled scores", shape="[n, n]")
    y5 = y4 + 130
    d.arrow(165, y4 + 80, 165, y5 - 8, width=1.8)
    d.text(177, y4 + 108, "softmax along each row", anchor="start", size=12.5, weight="600")
    d.matrix(165 - 2 * c, y5, 4, 4, "highlight", cell=c, name="weights A", shape="[n, n]: each row sums to 1")
    y6 = y5 + 130
    d.line([(165, y5 + 80), (165, y6 + 22), (232, y6 + 22)], role="highlight", width=1.8)
    d.line([(390, y2 + 80), (390, y6 + 22), (308, y6 + 22)], role="value", width=1.8)
    d.text(396, y6 - 10, "V", anchor="start", size=12)
    d.matrix(
        270 - 1.5 * c,
        y6,
        4,
        3,
        "output",
        cell=c,
        name="output = A V",
        shape="[n, d_v]: each row a weighted average of V's rows",
    )
    return d


def one_token():
    nums = example_numbers()
    i, toks = 1, EXAMPLE["tokens"]
    q, d_k = nums["Q"][i], len(nums["Q"][0])
    d = Drawing(
        f"One token's view: the query of \u201c{toks[i]}\u201d against every key",
        f"The query of {toks[i]}, q = {_vec(q)}, is compared with the key of every token by a dot product, "
        f"divided by the square root of {d_k}; a softmax turns the scores into weights "
        + ", ".join(f"{t} {w:.2f}" for t, w in zip(toks, nums["weights"][i]))
        + f"; the output of {toks[i]} is the weighted average of the values, {_vec(nums['output'][i])}.",
        size=12.5,
    )
    d.box(0, 0, 230, 30, f"query of \u201c{toks[i]}\u201d: q = {_vec(q)}", "query")
    cols = [
        (40, "token"),
        (112, "key k_j"),
        (186, "q \u00b7 k_j"),
        (252, "\u00f7 \u221a2"),
        (350, "weight"),
        (470, "value v_j"),
    ]
    y0 = 62
    for x, h in cols:
        d.text(x, y0, h, weight="600", size=12)
    rh = 30
    for j, t in enumerate(toks):
        y = y0 + 14 + j * rh
        cy = y + rh / 2 + 4
        d.text(40, cy, t, weight="600" if j == i else None)
        d.rect(82, y + 4, 60, rh - 8, "key", rx=4)
        d.text(112, cy, _vec(nums["K"][j]), size=12)
        d.text(186, cy, _num(nums["scores"][i][j]), size=12)
        d.text(252, cy, f"{nums['scaled'][i][j]:.2f}", size=12)
        w = nums["weights"][i][j]
        d.rect(300, y + 6, 100, rh - 12, None, stroke=ROLES["neutral"], width=0.8, rx=2)
        d.raw(f'<rect x="300" y="{y + 6}" width="{100 * w:.1f}" height="{rh - 12}" rx="2" fill="{ROLES["query"]}"/>')
        d.text(406, cy, f"{w:.2f}", size=12, anchor="start", weight="600")
        d.rect(440, y + 4, 62, rh - 8, "value", rx=4)
        d.text(471, cy, _vec(nums["V"][j]), size=12)
    y = y0 + 14 + len(toks) * rh + 14
    d.box(
        180,
        y,
        322,
        30,
        f"output of \u201c{toks[i]}\u201d = \u03a3_j weight_j v_j = {_vec(nums['output'][i])}",
        "output",
    )
    d.line([(471, y0 + 14 + len(toks) * rh), (471, y - 2)], role="value", width=1.5)
    return d


# ------------------------------------------------------------------------------------------ chapter 3


def scaling_chain():
    d = Drawing(
        "Why divide by the square root of d_k: the chain from d_k to a vanishing gradient",
        "As d_k grows, the dot product of a query and a key with d_k independent unit-variance "
        "components has variance d_k; the scores spread like the square root of d_k; the softmax "
        "saturates, one weight near 1 and the rest near 0; its Jacobian diag(p) - p p^T goes to 0, so "
        "the gradient reaching the scores vanishes. Dividing the scores by the square root of d_k brings "
        "their variance back to 1 and cuts the chain.",
        size=12.5,
    )
    W, H, gap = 360, 66, 34
    steps = [
        ("d_k grows", "q, k: d_k independent components,", "each mean 0, variance 1"),
        ("Var(q \u00b7 k) = d_k", "the scores spread like \u221ad_k", "(a sum of d_k unit-variance terms)"),
        ("the softmax saturates", "one weight near 1, the others near 0", ""),
        ("the gradient vanishes", "J = diag(p) \u2212 pp^\u22a4 \u2192 0:", "the scores stop learning"),
    ]
    for k, (head, l1, l2) in enumerate(steps):
        y = k * (H + gap)
        d.rect(0, y, W, H, "neutral" if k < 3 else "highlight", tint=0.12)
        d.text(78, y + 22, head, anchor="start", weight="700", size=13.5)
        d.text(78, y + 40, l1, anchor="start", size=12)
        if l2:
            d.text(78, y + 56, l2, anchor="start", size=12, muted=True)
        gx, gy = 12, y + 10  # a 52 x 46 glyph
        if k == 0:
            for j, n in enumerate((2, 4, 7)):
                for m in range(n):
                    d.raw(
                        f'<rect x="{gx + m * 7}" y="{gy + j * 16}" width="6" height="10" fill="{ROLES["query"]}" fill-opacity=".7"/>'
                    )
        elif k == 1:
            for sd, role in ((5, "query"), (14, "key")):
                pts = " ".join(
                    f"{gx + 26 + t:.1f},{gy + 44 - 38 * math.exp(-t * t / (2 * sd * sd)) * (5 / sd) ** 0.5:.1f}"
                    for t in range(-26, 27, 2)
                )
                d.raw(f'<polyline points="{pts}" fill="none" stroke="{ROLES[role]}" stroke-width="2"/>')
            d.raw(f'<line x1="{gx}" y1="{gy + 45}" x2="{gx + 52}" y2="{gy + 45}" stroke="currentColor"/>')
        elif k == 2:
            for j, p in enumerate((0.04, 0.9, 0.02, 0.04)):
                d.raw(
                    f'<rect x="{gx + 4 + j * 12}" y="{gy + 45 - 42 * p:.1f}" width="9" height="{42 * p:.1f}" fill="{ROLES["highlight"]}"/>'
                )
            d.raw(f'<line x1="{gx}" y1="{gy + 45}" x2="{gx + 52}" y2="{gy + 45}" stroke="currentColor"/>')
        else:
            for j, op in enumerate((0.9, 0.55, 0.25)):
                d.raw(
                    f'<line x1="{gx + 4 + j * 16}" y1="{gy + 6}" x2="{gx + 4 + j * 16}" y2="{gy + 40 - j * 12}" stroke="{ROLES["highlight"]}" '
                    f'stroke-width="3" stroke-opacity="{op}"/>'
                )
        if k < 3:
            d.arrow(W / 2, y + H + 2, W / 2, y + H + gap - 3, width=2)
    # The fix: divide by sqrt(d_k), which cuts the chain between the variance and the saturation.
    fy = 1 * (H + gap) + H + gap / 2
    d.box(W + 40, fy - 46, 150, 92, "", "value")
    d.text(W + 115, fy - 22, "\u00f7 \u221ad_k", weight="700", size=15)
    d.text(W + 115, fy - 2, "brings the variance", size=12)
    d.text(W + 115, fy + 14, "back to 1:", size=12)
    d.text(W + 115, fy + 30, "the chain is cut", size=12, weight="600")
    d.arrow(W + 38, fy, W / 2 + 16, fy, role="value", width=2)
    d.raw(
        f'<path d="M{W / 2 - 9} {fy - 9} l18 18 M{W / 2 + 9} {fy - 9} l-18 18" stroke="{ROLES["value"]}" stroke-width="3"/>'
    )
    return d


# ------------------------------------------------------------------------------------------ chapter 4


def multi_head():
    d = Drawing(
        "Multi-head attention: split into heads, attend per head, concatenate, mix with W_O",
        "X, n by d_model, is projected into Q, K and V, each n by d_model. Each is split along its columns "
        "into h blocks of d_k = d_model / h columns, one per head. Head i computes attention on its own "
        "blocks, giving n by d_k. The heads' outputs are concatenated back into n by d_model and multiplied "
        "by W_O into the output, n by d_model.",
    )
    c, h = 11, 3
    blocks = [(2 * i, 2 * i + 2, str(i + 1)) for i in range(h)]
    d.matrix(207, 10, 4, 6, "neutral", cell=c, name="X", shape="[n, d_{model}]")
    y2 = 150
    xs = (90, 245, 400)
    for cx, role, name, w in zip(xs, ("query", "key", "value"), "QKV", ("W^Q", "W^K", "W^V")):
        d.line([(240, 96), (cx, y2 - 20)], role=role, width=1.8)
        d.matrix(
            cx - 37,
            y2,
            4,
            6,
            role,
            cell=c,
            name=f"{name} = X {w}",
            shape="[n, d_{model}] = h \u00d7 [n, d_k]",
            blocks=blocks,
        )
    d.text(245, y2 + 100, "split: head i takes column block i of Q, K and V", size=12.5, weight="600")
    y3 = y2 + 124
    d.arrow(245, y2 + 106, 245, y3 - 4, width=1.8)
    for i, cx in enumerate(xs):
        d.box(
            cx - 72,
            y3,
            144,
            44,
            f"head {i + 1}",
            "neutral",
            sub=f"softmax(Q_{i + 1}K_{i + 1}^\u22a4/\u221ad_k) V_{i + 1}",
        )
        d.text(cx, y3 + 60, "[n, d_k]", muted=True, size=11.5)
    y4 = y3 + 110
    gx = 245 - 37
    centres = [gx + 11, gx + 37, gx + 63]
    for cx, bx in zip(xs, centres):
        d.line([(cx, y3 + 66), (bx, y4 - 18)], width=1.5)
    d.matrix(
        gx,
        y4,
        4,
        6,
        "output",
        cell=c,
        name="concat(head_1, \u2026, head_h)",
        shape="[n, h \u00b7 d_k] = [n, d_{model}]",
        blocks=blocks,
    )
    y5 = y4 + 130
    d.arrow(245, y4 + 82, 245, y5 - 6, width=1.8)
    d.text(255, y4 + 108, "\u00d7 W^O  [d_{model}, d_{model}]", anchor="start", size=12.5, weight="600")
    d.matrix(
        gx,
        y5,
        4,
        6,
        "output",
        cell=c,
        name="output",
        shape="[n, d_{model}]",
        strong={(r, k) for r in range(4) for k in range(6)},
    )
    return d


# ------------------------------------------------------------------------------------------ chapter 5


def sinusoid_clocks(d_model=8, positions=(0, 1, 2, 3)):
    """Each sine/cosine pair of the sinusoidal encoding as a clock hand turning at its own speed."""
    freqs = [10000 ** (-2 * i / d_model) for i in range(d_model // 2)]
    last = positions[-1]
    d = Drawing(f"The sinusoidal encoding for d_model = {d_model} as clock hands, one per frequency pair",
                f"For d_model = {d_model} the encoding has {d_model // 2} pairs of columns (sin, cos). Pair i is a "
                f"hand on a clock that turns by the angle omega_i = 10000^(-2i/d_model) radians per position: "
                + ", ".join(f"{w:g}" for w in freqs) + " radians. The hands are drawn for positions "
                + ", ".join(str(q) for q in positions) + f", position {last} solid. The fast hand goes round in "
                f"about {2 * math.pi / freqs[0]:.0f} positions, the slowest needs about {2 * math.pi / freqs[-1]:.0f}. "
                f"Moving k positions on turns every hand by k times "
                f"its own omega_i, whatever the starting position: a rotation.", size=12.5)
    r, gap = 52, 40
    for i, w in enumerate(freqs):
        cx, cy = r + i * (2 * r + gap), r + 30
        d.circle(cx, cy, r, "position", tint=0.08)
        axis = f'stroke="{ROLES["neutral"]}" stroke-opacity=".5"'
        d.raw(f'<line x1="{cx - r}" y1="{cy}" x2="{cx + r}" y2="{cy}" {axis}/>')
        d.raw(f'<line x1="{cx}" y1="{cy - r}" x2="{cx}" y2="{cy + r}" {axis}/>')
        for q in positions:
            a = q * w
            tip = (cx + (r - 6) * math.cos(a), cy - (r - 6) * math.sin(a))
            strong = q == last
            d.line([(cx, cy), tip], role="position" if strong else "neutral", width=3 if strong else 1.2,
                   dash=None if strong else "3 3", head=8 if strong else 5)
        d.text(cx, 14, f"pair {i}: columns {2 * i}, {2 * i + 1}", weight="600", size=12)
        d.text(cx, cy + r + 20, f"\u03c9_{i} = {w:g} rad", size=12)
        d.text(cx, cy + r + 36, f"one turn: {2 * math.pi / w:.0f} positions", size=11.5, muted=True)
    y = 2 * r + 30 + 62
    d.text(0, y, "hand = (cos, sin) of pos \u00b7 \u03c9_i, i.e. the pair (PE_{pos, 2i+1}, PE_{pos, 2i}); "
           f"dashed: positions {', '.join(str(q) for q in positions[:-1])}; solid: position {last}",
           anchor="start", size=11.5, muted=True)
    d.text(0, y + 17, "pos \u2192 pos + k turns hand i by k\u00b7\u03c9_i: the same rotation from every start",
           anchor="start", size=11.5, muted=True)
    d.text(0, y + 34, f"drawn for d_{{model}} = {d_model}: {d_model // 2} hands (a larger d_{{model}} has "
           "d_{model}/2 hands, from the same fastest one to slower ones)", anchor="start", size=11.5, muted=True)
    return d


def _stage_row(d, stages, sx, sw, gap=16):
    """A row of (label, sub) boxes from x = sx, joined by arrows: one attention head's stages. Returns their x."""
    xs = [sx + n * (sw + gap) for n in range(len(stages))]
    for x, (label, sub) in zip(xs, stages):
        d.box(x, 0, sw, 44, label, "query", sub=sub, size=12)
    for a, b in zip(xs, xs[1:]):
        d.arrow(a + sw + 2, 22, b - 2, 22, width=1.5)
    return xs


def positions_in_attention():
    """Where each positional method enters one attention head, and what it adds."""
    d = Drawing("Where position enters attention: four methods",
                "One attention head computes embeddings x_i, projections q_i = W_Q x_i and k_j = W_K x_j, the "
                "score q_i dot k_j divided by the square root of d, and a softmax over j. Absolute encodings "
                "(sinusoidal or learned) add a vector p_i to the embedding, before the projections. Relative "
                "positions (Shaw et al.) add a learned vector a for the clipped offset j - i to the key inside the "
                "score. RoPE rotates q_i and k_j by angles proportional to i and j, so their dot product depends "
                "on j - i. ALiBi adds minus a fixed slope m_h times the distance i - j to the score.", size=12.5)
    stages = [("x_i = e(token_i)", "embedding"), ("q_i = W_Q x_i, k_j = W_K x_j", "projections"),
              ("q_i \u00b7 k_j / \u221ad", "score"), ("softmax_j", "weights")]
    sw = 176
    xs = _stage_row(d, stages, 130, sw)
    rows = [
        ("absolute", "sinusoidal or learned", 0, "+ p_i", "0 or L\u00b7d_{model} parameters"),
        ("relative", "Shaw et al. 2018", 2, "k_j + a_{clip(j\u2212i)}", "(2K+1)\u00b7d_k parameters"),
        ("RoPE", "Su et al. 2021", 1, "rotate q_i by i\u00b7\u03b8, k_j by j\u00b7\u03b8", "0 parameters"),
        ("ALiBi", "Press et al. 2022", 2, "\u2212 m_h \u00b7 (i \u2212 j)", "0 parameters (fixed slopes)"),
    ]
    for n, (name, who, stage, what, params) in enumerate(rows):
        y = 78 + n * 56
        d.text(0, y + 14, name, anchor="start", weight="700", size=13)
        d.text(0, y + 30, who, anchor="start", muted=True, size=11.5)
        for m, x in enumerate(xs):
            if m == stage:
                d.box(x, y, sw, 36, what, "position", size=11.5, sub=params)
            else:
                d.rect(x + sw / 2 - 3, y + 15, 6, 6, "neutral", tint=0.5, width=0, rx=3)
    return d


# ------------------------------------------------------------------------------------- the whole map


def architecture(highlight=(), links=None):
    """The encoder-decoder Transformer (the paper's Figure 1, redrawn), its blocks linked to chapters.

    ``highlight``: names from ``HIGHLIGHTS``. ``links``: {block: (href, accessible label)} for the
    blocks to link (the directive fills it from ``LINKS``); ``None`` links by plain document name.
    """
    lit = set().union(*(HIGHLIGHTS[h] for h in highlight)) if highlight else set()
    if links is None:
        links = {k: (doc.split("/")[-1] + ".html", doc) for k, doc in LINKS.items() if doc}
    d = Drawing(
        "The Transformer, the map of this book",
        "The encoder-decoder Transformer of Attention Is All You Need, redrawn. Encoder, N layers: input "
        "embedding plus positional encoding, then multi-head self-attention and a feed-forward network, "
        "each followed by Add & Norm around a residual path. Decoder, N layers: output embedding plus "
        "positional encoding, masked multi-head self-attention, multi-head cross-attention over the "
        "encoder's output (keys and values from the encoder, queries from the decoder), a feed-forward "
        "network, each with Add & Norm; then a linear layer and a softmax give the output probabilities. "
        "Blocks link to the chapters that explain them."
        + (f" Highlighted: {', '.join(sorted(highlight))}." if highlight else ""),
        size=12.5,
    )
    W, G = 186, 24  # column width, vertical gap between blocks

    def tag(key):  # "ch 2": which chapter a linked block is in
        doc = LINKS.get(key)
        num = doc.split("/")[-1].split("_")[0].lstrip("0") if doc else ""
        return f"ch {num}" if num.isdigit() else ""

    def block(x, y, w, h, label, key, role=None):
        href, name = links.get(key, (None, None))
        with d.group(href=href, label=f"{label}: {name}" if href else None, class_="qkv-block", data_block=key):
            d.box(x, y, w, h, label, role, highlight=key in lit)
            if href and tag(key):
                d.text(x + w - 5, y + 11, tag(key), size=9.5, anchor="end", muted=True)

    def attention(x, y, key, title):
        h = 56
        href, name = links.get(key, (None, None))
        with d.group(href=href, label=f"{title}: {name}" if href else None, class_="qkv-block", data_block=key):
            if key in lit:
                d.rect(x, y, W, h, "highlight", tint=0.22, width=3)
            else:
                d.rect(x, y, W, h, "query", tint=0.12)
            d.text(x + W / 2, y + 22, title, weight="600", size=12.5)
            if href and tag(key):
                d.text(x + W - 5, y + 10, tag(key), size=9.5, anchor="end", muted=True)
        for px, pw, label, k in (
            (x + W / 2 - 69, 80, "attention", "attention"),
            (x + W / 2 + 17, 52, "\u00f7 \u221ad_k", "scaling"),
        ):
            href, name = links.get(k, (None, None))
            with d.group(
                href=href,
                label=f"{'scaled dot-product attention' if k == 'attention' else 'dividing by the square root of d_k'}: {name}"
                if href
                else None,
                class_="qkv-block",
                data_block=k,
            ):
                if k in lit:
                    d.rect(px, y + 29, pw, 20, "highlight", tint=0.25, width=2.5, rx=10)
                else:
                    d.rect(px, y + 29, pw, 20, "query", tint=0.22, width=1, rx=10)
                d.text(px + pw / 2, y + 43, label, size=11.5)
        return h

    def qkv_bar(x, y_box_bottom, xs):
        """Three arrows up into an attention block from a bar just below it."""
        yb = y_box_bottom + 11
        d.raw(f'<line x1="{xs[0]}" y1="{yb}" x2="{xs[-1]}" y2="{yb}" stroke="currentColor" stroke-width="1.5"/>')
        for ax in xs:
            d.arrow(ax, yb, ax, y_box_bottom + 1, width=1.5, head=6)
        return yb

    def residual(side_x, y_from, x_stream, y_into, box_x):
        """A residual path: from the stream at y_from, round the sublayer, into the Add & Norm at y_into."""
        key = "residual"
        role = "highlight" if key in lit else None
        d.line(
            [(x_stream, y_from), (side_x, y_from), (side_x, y_into), (box_x, y_into)],
            role=role,
            width=2.5 if role else 1.5,
            head=6,
        )

    def stack(x, bottom, parts, side):
        """Blocks from the bottom up; returns the y of the top. side: where the residual paths run."""
        y = bottom
        cx = x + W / 2
        edge_x, side_x = (x, x - 14) if side == "left" else (x + W, x + W + 14)
        stream_in = None  # y where the current sublayer's input can branch off
        for kind, *rest in parts:
            if kind == "attn":
                key, title, cross = rest
                h = 56
                y -= h
                attention(x, y, key, title)
                if cross:
                    yb = qkv_bar(x, y + h, [cx + 45])
                    d.raw(
                        f'<line x1="{x - 16}" y1="{y + h + 11}" x2="{cx}" y2="{y + h + 11}" stroke="currentColor" stroke-width="1.5"/>'
                    )
                    for ax in (cx - 45, cx):
                        d.arrow(ax, y + h + 11, ax, y + h + 1, width=1.5, head=6)
                    d.raw(
                        f'<line x1="{cx + 45}" y1="{y + h + 11}" x2="{cx + 45}" y2="{y + h + G}" stroke="currentColor" stroke-width="1.5"/>'
                    )
                    stream_in = (y + h + 17, cx + 45)
                else:
                    yb = qkv_bar(x, y + h, [cx - 45, cx, cx + 45])
                    d.raw(
                        f'<line x1="{cx}" y1="{yb}" x2="{cx}" y2="{y + h + G}" stroke="currentColor" stroke-width="1.5"/>'
                    )
                    stream_in = (y + h + 17, cx)
            elif kind == "ff":
                y -= 34
                block(x, y, W, 34, "Feed forward", "feed-forward", "output")
                d.arrow(cx, y + 34 + G, cx, y + 34 + 1, width=1.5)
                stream_in = (y + 34 + 13, cx)
            elif kind == "norm":
                y -= 26
                block(x, y, W, 26, "Add & Norm", "add-norm", "neutral")
                d.arrow(cx, y + 26 + G, cx, y + 26 + 1, width=1.5)
                sy, sx = stream_in
                residual(side_x, sy, sx, y + 13, edge_x)
            y -= G
        return y + G

    enc_x, dec_x = 60, 330
    bottom = 620
    # Embeddings and positional encodings, then the two stacks.
    for x, label, words, pe_side in (
        (enc_x, "Input embedding", "inputs", "left"),
        (dec_x, "Output embedding", "outputs (shifted right)", "right"),
    ):
        cx = x + W / 2
        d.text(cx, bottom + 66, words, muted=True)
        d.arrow(cx, bottom + 54, cx, bottom + 35, width=1.5)
        block(x, bottom, W, 34, label, "embedding", "neutral")
        d.arrow(cx, bottom, cx, bottom - 21, width=1.5)
        lit_pe = "positional-encoding" in lit
        href, name = links.get("positional-encoding", (None, None))
        with d.group(href=href, label=f"positional encoding: {name}" if href else None, class_="qkv-block",
                     data_block="positional-encoding"):
            d.circle(cx, bottom - 30, 9, "highlight" if lit_pe else "position", width=3 if lit_pe else 1.5, tint=0.3)
            d.raw(
                f'<path d="M{cx - 5} {bottom - 30}h10M{cx} {bottom - 35}v10" stroke="currentColor" stroke-width="1.5"/>'
            )
            gx = cx - 60 if pe_side == "left" else cx + 20
            pts = " ".join(
                f"{gx + t:.1f},{bottom - 30 - 7 * math.sin(t / 40 * 2 * math.pi):.1f}" for t in range(0, 41, 2)
            )
            d.raw(f'<polyline points="{pts}" fill="none" stroke="{ROLES["position"]}" stroke-width="2"/>')
            if pe_side == "left":
                d.arrow(gx + 42, bottom - 30, cx - 10, bottom - 30, width=1.2, head=5)
                d.text(gx - 6, bottom - 33, "positional", anchor="end", size=11.5)
                d.text(gx - 6, bottom - 19, "encoding", anchor="end", size=11.5)
            else:
                d.arrow(gx - 2, bottom - 30, cx + 10, bottom - 30, width=1.2, head=5)
                d.text(gx + 46, bottom - 33, "positional", anchor="start", size=11.5)
                d.text(gx + 46, bottom - 19, "encoding", anchor="start", size=11.5)
    start = bottom - 39 - G + 8
    enc_parts = [("attn", "multi-head", "Multi-head attention", False), ("norm",), ("ff",), ("norm",)]
    dec_parts = [
        ("attn", "masked-attention", "Masked multi-head attn.", False),
        ("norm",),
        ("attn", "cross-attention", "Cross-attention", True),
        ("norm",),
        ("ff",),
        ("norm",),
    ]
    enc_top = stack(enc_x, start, enc_parts, "left")
    dec_top = stack(dec_x, start, dec_parts, "right")
    for x, top, side in ((enc_x, enc_top, "left"), (dec_x, dec_top, "right")):
        d.rect(x - 26, top - 28, W + 52, start - top + 36, None, stroke=ROLES["neutral"], dash="6 4", rx=10)
        d.text(x + W / 2, top - 12, "encoder layer" if x == enc_x else "decoder layer", muted=True, size=11.5)
        if side == "left":
            d.text(x - 34, (top + start) / 2, "N\u00d7", anchor="end", weight="700", size=15)
        else:
            d.text(x + W + 34, (top + start) / 2, "N\u00d7", anchor="start", weight="700", size=15)
    # The encoder's output: keys and values of every decoder layer's cross-attention.
    ecx = enc_x + W / 2
    cross_y = start - 56 - G - 26 - G - 56  # top of the cross-attention block
    route_y = enc_top - 40
    d.line(
        [(ecx, enc_top), (ecx, route_y), (dec_x - 16, route_y), (dec_x - 16, cross_y + 56 + 11)], width=1.8, arrow=False
    )
    d.text((ecx + dec_x - 16) / 2, route_y - 6, "keys and values for the decoder", size=11.5, muted=True)
    # Above the decoder: linear, softmax, probabilities.
    dcx = dec_x + W / 2
    y = dec_top - 28 - 20
    d.arrow(dcx, dec_top, dcx, y + 1, width=1.5)
    with d.group():
        y -= 30
        block(dec_x, y, W, 30, "Linear", "output", "neutral")
        d.arrow(dcx, y, dcx, y - G + 1, width=1.5)
        y -= G + 30
        block(dec_x, y, W, 30, "Softmax", "output", "neutral")
    d.arrow(dcx, y, dcx, y - 20, width=1.5)
    d.text(dcx, y - 28, "output probabilities", muted=True)
    return d


DIAGRAMS = {
    "embedding-lookup": embedding_lookup,
    "apple-2d": apple_2d,
    "attention-flow": attention_flow,
    "one-token": one_token,
    "scaling-chain": scaling_chain,
    "multi-head": multi_head,
    "sinusoid-clocks": sinusoid_clocks,
    "positions-in-attention": positions_in_attention,
    "architecture": architecture,
}


def where_the_mask_goes():
    """The mask's place in attention, right and in three classic wrong ways."""
    d = Drawing("Where the mask goes, and three ways to get it wrong",
                "Attention computes the scores q_i dot k_j over the square root of d, hides the masked keys by "
                "setting their scores to minus infinity, takes a softmax over the keys j, and mixes the values "
                "with the weights. Right: the mask sets masked scores to minus infinity before the softmax, so "
                "their weights are exactly zero. Wrong diagonal: the causal mask tril(diagonal=1) lets query i "
                "see key i + 1. After the softmax: the weights are multiplied by the mask after the softmax, so "
                "the other weights still depend on the hidden keys through the denominator. On the queries: the "
                "padding mask, transposed, hides the rows of padded queries instead of the columns of padded "
                "keys, so real queries read the padding.", size=12.5)
    stages = [("q_i \u00b7 k_j / \u221ad", "scores"), ("hide key j", "masked scores = \u2212\u221e"),
              ("softmax_j", "weights, rows sum to 1"), ("weights \u00b7 V", "output")]
    sw = 176
    xs = _stage_row(d, stages, 150, sw)
    rows = [
        ("right", "exactly 0 weight", 1, "masked\\_fill(~mask, \u2212\u221e)", "value", "columns j hidden"),
        ("wrong diagonal", "i sees i + 1", 1, "tril(diagonal=1)", "highlight", "one step of the future"),
        ("after the softmax", "denominator leaks", 2, "softmax, then \u00d7 mask", "highlight", "rows no longer sum to 1"),
        ("on the queries", "mask transposed", 1, "[B, T, 1] instead of [B, 1, T]", "highlight", "rows hidden, not columns"),
    ]
    for n, (name, why, stage, what, role, sub) in enumerate(rows):
        y = 78 + n * 56
        d.text(0, y + 14, name, anchor="start", weight="700", size=13)
        d.text(0, y + 30, why, anchor="start", muted=True, size=11.5)
        for m, x in enumerate(xs):
            if m == stage:
                d.box(x, y, sw, 36, what, role, size=11.5, sub=sub)
            else:
                d.rect(x + sw / 2 - 3, y + 15, 6, 6, "neutral", tint=0.5, width=0, rx=3)
    return d


DIAGRAMS["where-the-mask-goes"] = where_the_mask_goes


# ------------------------------------------------------------------------------------------ chapter 6

_NB, _NT, _NF = 3, 4, 6  # the cube: batch (depth), sequence (down), features (across)


def _cube_point(ox, oy, f, t, b, cell=16, depth=0.55):
    """The drawing position of corner (feature f, position t, batch b) of the cube, in oblique projection."""
    return ox + f * cell + b * cell * depth, oy + t * cell - b * cell * depth


def _cuboid(d, ox, oy, f0, f1, t0, t1, b0, b1, role, tint, width=1.0):
    """The three visible faces (front, top, right) of the block [f0, f1) x [t0, t1) x [b0, b1)."""
    P = lambda f, t, b: _cube_point(ox, oy, f, t, b)  # noqa: E731
    faces = [
        [P(f0, t0, b0), P(f1, t0, b0), P(f1, t1, b0), P(f0, t1, b0)],  # front (b = b0)
        [P(f0, t0, b0), P(f0, t0, b1), P(f1, t0, b1), P(f1, t0, b0)],  # top (t = t0)
        [P(f1, t0, b0), P(f1, t0, b1), P(f1, t1, b1), P(f1, t1, b0)],  # right (f = f1)
    ]
    c = colour(role)
    for face in faces:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in face)
        d.raw(f'<polygon points="{pts}" fill="{c}" fill-opacity="{tint}" stroke="{c}" stroke-width="{width}" '
              'stroke-linejoin="round"/>')
        for x, y in face:
            d._grow(x, y, x, y)


NORM_AXES = [  # name, the caption's lines (what shares one mean and variance), the block (f0, f1, t0, t1, b0, b1)
    ("BatchNorm", ("one feature,", "over the batch", "and every position"), (2, 3, 0, _NT, 0, _NB)),
    ("LayerNorm", ("one position", "of one sequence,", "over its features"), (0, _NF, 1, 2, 0, 1)),
    ("RMSNorm", ("as LayerNorm,", "root mean square only", "(no mean)"), (0, _NF, 1, 2, 0, 1)),
    ("InstanceNorm", ("one feature", "of one sequence,", "over its positions"), (2, 3, 0, _NT, 0, 1)),
    ("GroupNorm", ("a group of features", "of one sequence,", "over its positions"), (2, 4, 0, _NT, 0, 1)),
]


def norm_axes():
    """The (batch, sequence, feature) cube five times: the elements that share one mean and variance."""
    d = Drawing("What each norm averages over, in a (batch, sequence, feature) tensor",
                f"Five copies of an activation tensor with {_NB} sequences (depth), {_NT} positions (down) and "
                f"{_NF} features (across). Highlighted: the elements that share one mean and one variance. "
                + " ".join(f"{name}: {' '.join(what)}." for name, what, _ in NORM_AXES)
                + " Only BatchNorm mixes different sequences of the batch; LayerNorm and RMSNorm never mix "
                "positions either.", size=12.5)
    step = 190
    for n, (name, what, block) in enumerate(NORM_AXES):
        ox, oy = n * step, 60
        _cuboid(d, ox, oy, 0, _NF, 0, _NT, 0, _NB, "neutral", 0.06, width=0.8)
        for t in range(1, _NT):  # the front face's grid
            (xa, ya), (xb, yb) = _cube_point(ox, oy, 0, t, 0), _cube_point(ox, oy, _NF, t, 0)
            d.raw(f'<line x1="{xa:.1f}" y1="{ya:.1f}" x2="{xb:.1f}" y2="{yb:.1f}" stroke="{ROLES["neutral"]}" '
                  'stroke-opacity=".5"/>')
        for f in range(1, _NF):
            (xa, ya), (xb, yb) = _cube_point(ox, oy, f, 0, 0), _cube_point(ox, oy, f, _NT, 0)
            d.raw(f'<line x1="{xa:.1f}" y1="{ya:.1f}" x2="{xb:.1f}" y2="{yb:.1f}" stroke="{ROLES["neutral"]}" '
                  'stroke-opacity=".5"/>')
        role = "key" if name == "BatchNorm" else "query" if name in ("LayerNorm", "RMSNorm") else "value"
        _cuboid(d, ox, oy, *block, role, 0.55, width=1.5)
        cx = ox + _NF * 8 + 14
        d.text(cx, 14, name, weight="700", size=13.5)
        for k, line in enumerate(what):
            d.text(cx, oy + _NT * 16 + 24 + 15 * k, line, size=11.5, muted=True)
    ox = 0
    x0, y0 = _cube_point(ox, 60, 0, _NT, 0)
    d.text(x0, y0 + 84, "axes: features \u2192 across, positions \u2193 down, sequences of the batch \u2197 "
           "into the page", anchor="start", size=11.5, muted=True)
    return d


def post_pre_norm():
    """The paper's post-norm block against the pre-norm block, with the residual path of each."""
    d = Drawing("Post-norm and pre-norm: where the LayerNorm sits",
                "Two Transformer sublayer blocks, input at the bottom. Post-norm, as in Attention Is All You "
                "Need: the sublayer's output is added to the input x, then the sum goes through LayerNorm, so "
                "the residual path passes through a norm in every layer. Pre-norm: LayerNorm is applied to "
                "the sublayer's input only, and the sublayer's output is added to x, so the residual path from "
                "the input to the output is a plain sum with no norm on it; a final LayerNorm follows the "
                "last layer.", size=12.5)
    w, h = 150, 34
    for n, (name, formula, pre) in enumerate([("post-norm (the paper)", "LayerNorm(x + Sublayer(x))", False),
                                              ("pre-norm", "x + Sublayer(LayerNorm(x))", True)]):
        ox = n * 300
        cx = ox + 110
        d.text(cx, 14, name, weight="700", size=13.5)
        d.text(cx, 32, formula, size=12, muted=True)
        y_in, y_out = 300, 48
        d.text(cx, y_in + 16, "x", weight="600")
        if pre:
            d.box(cx - w / 2, 210, w, h, "LayerNorm", "highlight")
            d.box(cx - w / 2, 140, w, h, "Sublayer", "query", sub="attention or FFN")
            d.circle(cx, 96, 11, "neutral")
            d.text(cx, 100, "+", weight="700")
            d.arrow(cx, y_in, cx, 210 + h + 2)
            d.arrow(cx, 210, cx, 140 + h + 2)
            d.arrow(cx, 140, cx, 96 + 13)
            d.arrow(cx, 96 - 11, cx, y_out + 16)
            d.line([(cx, 280), (cx + 100, 280), (cx + 100, 96), (cx + 13, 96)], role="value", width=2.2)
            d.text(cx + 106, 190, "residual: no norm", anchor="start", size=11.5, muted=True)
        else:
            d.box(cx - w / 2, 200, w, h, "Sublayer", "query", sub="attention or FFN")
            d.circle(cx, 150, 11, "neutral")
            d.text(cx, 154, "+", weight="700")
            d.box(cx - w / 2, 84, w, h, "LayerNorm", "highlight")
            d.arrow(cx, y_in, cx, 200 + h + 2)
            d.arrow(cx, 200, cx, 150 + 13)
            d.arrow(cx, 150 - 11, cx, 84 + h + 2)
            d.arrow(cx, 84, cx, y_out + 16)
            d.line([(cx, 280), (cx + 100, 280), (cx + 100, 150), (cx + 13, 150)], role="value", width=2.2)
            d.text(cx + 106, 220, "residual", anchor="start", size=11.5, muted=True)
        d.text(cx, y_out + 6, "to the next layer", muted=True, size=11.5)
    return d


DIAGRAMS["norm-axes"] = norm_axes
DIAGRAMS["post-pre-norm"] = post_pre_norm

# ------------------------------------------------------------------------------------- chapter 8


def recurrent_cells():
    """RNN, LSTM and GRU cells as rows of gates, in qkv's (PyTorch's) equations and gate order."""
    d = Drawing("Three recurrent cells, gate by gate",
                "Each row is one cell; every gate reads the input x_t and the previous state h_(t-1). RNN: one "
                "step, h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh). LSTM: input gate i, forget gate f and "
                "output gate o, each a sigmoid, and a candidate g, a tanh; the cell state c_t = f times c_(t-1) "
                "plus i times g, and h_t = o times tanh(c_t). GRU: reset gate r and update gate z, sigmoids; "
                "the candidate n = tanh(W_in x_t + b_in + r times (W_hn h_(t-1) + b_hn)); h_t = (1 - z) times n "
                "plus z times h_(t-1). The LSTM has four blocks of weights, the GRU three, the RNN one.",
                size=12.5)
    sw, gap, x0 = 128, 10, 96
    rows = [
        ("RNN", "1 block", [("h_t = tanh(\u2026)", "W x_t + W h_{t\u22121} + b", "query")], None),
        ("LSTM", "4 blocks",
         [("i = \u03c3(\u2026)", "input gate", "key"), ("f = \u03c3(\u2026)", "forget gate", "key"),
          ("g = tanh(\u2026)", "candidate", "value"), ("o = \u03c3(\u2026)", "output gate", "key")],
         ("c_t = f\u2299c_{t\u22121} + i\u2299g", "h_t = o\u2299tanh(c_t)")),
        ("GRU", "3 blocks",
         [("r = \u03c3(\u2026)", "reset gate", "key"), ("z = \u03c3(\u2026)", "update gate", "key"),
          ("n = tanh(W x_t + r\u2299(W h + b))", "candidate", "value")],
         ("h_t = (1\u2212z)\u2299n + z\u2299h_{t\u22121}", "z keeps the old state")),
    ]
    for r, (name, sub, gates, state) in enumerate(rows):
        y = r * 70
        d.text(0, y + 18, name, anchor="start", weight="700", size=14)
        d.text(0, y + 34, sub, anchor="start", muted=True, size=11)
        for g, (label, what, role) in enumerate(gates):
            w = sw if len(label) < 20 else 2 * sw + gap
            d.box(x0 + g * (sw + gap), y, w, 44, label, role, sub=what, size=12)
        if state:
            xs = x0 + 4 * (sw + gap) + 20
            d.arrow(xs - 18, y + 22, xs - 2, y + 22, width=1.5)
            d.box(xs, y, 2 * sw - 20, 44, state[0], "output", sub=state[1], size=12)
    d.text(x0, 3 * 70 + 8, "every gate: \u03c3 or tanh of W_i x_t + b_i + W_h h_{t\u22121} + b_h (two biases, as PyTorch)",
           anchor="start", muted=True, size=11.5)
    return d


def unrolled_vs_attention(n=5):
    """An unrolled recurrence (a chain: token 1 reaches output n in n - 1 steps) against attention's all pairs."""
    d = Drawing("Path length: an unrolled recurrence against self-attention",
                f"Left, a recurrent network unrolled over {n} tokens: each state h_t is computed from h_(t-1) and "
                f"x_t, so the computation has {n} sequential steps and the signal from x_1 reaches h_{n} through "
                f"{n - 1} state-to-state steps, a path of length O(n). Right, self-attention over the same {n} "
                f"tokens: every output y_i reads every input x_j directly, all pairs at once, so there is one "
                "sequential step and the path from x_1 to y_n has length 1, O(1).", size=12.5)
    step = 62
    for side, x_left in (("rnn", 0), ("attn", n * step + 70)):
        for i in range(n):
            cx = x_left + 25 + i * step
            d.circle(cx, 150, 16, "neutral")
            d.text(cx, 155, f"x_{i + 1}", size=12)
            top_role = "query" if side == "rnn" else "output"
            d.circle(cx, 40, 16, top_role)
            d.text(cx, 45, f"h_{i + 1}" if side == "rnn" else f"y_{i + 1}", size=12)
        for i in range(n):
            cx = x_left + 25 + i * step
            if side == "rnn":
                d.arrow(cx, 133, cx, 58, role="neutral", width=1.2)
                if i < n - 1:
                    lit = True
                    d.arrow(cx + 17, 40, cx + step - 18, 40, role="highlight" if lit else None, width=2.2)
            else:
                for j in range(n):
                    jx = x_left + 25 + j * step
                    lit = (j == 0 and i == n - 1)
                    d.line([(jx, 133), (cx, 58)], role="highlight" if lit else "neutral",
                           width=2.4 if lit else 0.8, arrow=lit)
        mid = x_left + 25 + (n - 1) * step / 2
        if side == "rnn":
            d.text(mid, 195, "recurrence: h_t = f(h_{t\u22121}, x_t)", weight="700", size=13)
            d.text(mid, 213, f"x_1 \u2192 h_{n}: {n - 1} steps, O(n); sequential steps O(n)", muted=True, size=12)
        else:
            d.text(mid, 195, "self-attention: y_i = \u03a3_j a_{ij} V x_j", weight="700", size=13)
            d.text(mid, 213, f"x_1 \u2192 y_{n}: 1 step, O(1); sequential steps O(1)", muted=True, size=12)
    return d


DIAGRAMS["recurrent-cells"] = recurrent_cells
DIAGRAMS["unrolled-vs-attention"] = unrolled_vs_attention


# ------------------------------------------------------------------------------------------ chapter 10


def shared_kv_heads(num_heads=8):
    """Multi-head, grouped-query and multi-query attention: which query heads share a key/value head."""
    d = Drawing("Query heads sharing key and value heads: multi-head, grouped-query, multi-query",
                f"Three rows of {num_heads} query heads each. Multi-head attention: every query head has its own "
                f"key and value head, {num_heads} of each, so the cache holds {num_heads} key/value heads per "
                f"layer. Grouped-query attention with 2 groups: query heads 1 to {num_heads // 2} share one key "
                f"and value head and heads {num_heads // 2 + 1} to {num_heads} share another; the cache holds 2. "
                f"Multi-query attention: all {num_heads} query heads share a single key and value head; the cache "
                f"holds 1, {num_heads} times less than multi-head attention.", size=12.5)
    step, x0 = 46, 150
    rows = [("multi-head", num_heads, f"cache: {num_heads} K/V heads"),
            ("grouped-query", 2, "cache: 2 K/V heads"),
            ("multi-query", 1, "cache: 1 K/V head")]
    for n, (name, kv, note) in enumerate(rows):
        y = 20 + n * 120
        d.text(0, y + 22, name, anchor="start", weight="700", size=13)
        d.text(0, y + 40, f"{kv} key/value head{'s' if kv > 1 else ''}", anchor="start", muted=True, size=11.5)
        d.text(0, y + 96, note, anchor="start", muted=True, size=11.5)
        group = num_heads // kv
        for i in range(num_heads):
            cx = x0 + i * step + 18
            d.box(cx - 17, y, 34, 30, f"q{i + 1}", "query", size=11.5)
        for g in range(kv):
            first, last = x0 + g * group * step, x0 + (g + 1) * group * step - 10
            cx = (first + last) / 2
            w = min(last - first, 70)
            d.box(cx - w / 2, y + 76, w, 30, "K, V" if w > 40 else "KV", "key", size=11.5)
            for i in range(g * group, (g + 1) * group):
                d.line([(x0 + i * step + 18, y + 31), (cx, y + 75)], role="neutral", width=1.0, arrow=False)
    return d


def online_softmax(num_blocks=4):
    """Attention over blocks of keys with a running maximum, a running sum and a running output."""
    d = Drawing("The online softmax: one block of keys at a time",
                f"The keys and values are cut into {num_blocks} blocks. For each block in turn, the queries' "
                "scores against that block only are computed; the running maximum m becomes the larger of m "
                "and the block's maximum; the running sum l and the running output are multiplied by exp of "
                "the old m minus the new m, then the block's exponentials exp(s - m) are added to l and their "
                "weighted values (the sum over the block of exp(s - m) times V) to the output. After the last block the output divided by l equals ordinary "
                "attention. Only one block of scores exists at a time, never the full n by n matrix.", size=12.5)
    bw, gap, x0 = 104, 14, 10
    for b in range(num_blocks):
        x = x0 + b * (bw + gap)
        d.box(x, 10, bw, 34, f"K_{b + 1}, V_{b + 1}", "key", size=12)
        d.box(x, 80, bw, 40, f"s = Q K_{b + 1}^\u22a4", "neutral", sub="[n, block] only", size=11.5)
        d.arrow(x + bw / 2, 45, x + bw / 2, 78, width=1.3)
        d.arrow(x + bw / 2, 121, x + bw / 2, 156, width=1.3)
        if b < num_blocks - 1:
            d.arrow(x + bw + 1, 180, x + bw + gap - 1, 180, role="highlight", width=2.0)
        d.box(x, 158, bw, 44, f"state after {b + 1}", "output", sub="m, l, out", size=11.5)
    updates = ("m\u2032 = max(m, max s)",
               "l\u2032 = l e^{m \u2212 m\u2032} + \u03a3 e^{s \u2212 m\u2032}",
               "out\u2032 = out e^{m \u2212 m\u2032} + \u03a3 e^{s \u2212 m\u2032} V_b")
    for i, line in enumerate(updates):
        d.text(x0, 236 + 24 * i, line, anchor="start", size=14)
    d.text(x0, 236 + 24 * len(updates), "at the end: output = out / l = softmax(Q K^\u22a4 / \u221ad) V",
           anchor="start", muted=True, size=14)
    return d


DIAGRAMS["shared-kv-heads"] = shared_kv_heads
DIAGRAMS["online-softmax"] = online_softmax
