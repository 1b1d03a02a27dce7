"""No number is typed into the prose: each is glued from a cell, part of a formula, or a setting the reader sees.

A chapter's measured numbers reach its text through myst-nb's glue (and are pinned by
tests/notebooks), so a changed result changes the page or fails the build. A number typed into the
Markdown would not. This test reads every page's Markdown, removes what may hold digits (formulas,
code spans and blocks, roles such as {glue:text} and {footcite}, link targets, directive options,
labels) and fails on any digit sequence left that is not

- a single digit (counting words: "position 0", "step 2", "two heads" written "2 heads", list items);
- a year (1900-2099, as in citations);
- a literal in the page's own code cells: a setting the reader sees beside the text (`steps=300`,
  `n_keys = 50`); if the code changes, the number leaves the code and this test fails;
- on the short allow-list below, each entry with its reason (the paper's hyper-parameters, the
  configuration of the pretrained model, and words quoted from the source notes or from cited papers).
"""

from __future__ import annotations

import ast
import json
import re

import pytest

from booktoc import toc_sources

# Numbers that may be typed anywhere, and why.
ALLOWED_EVERYWHERE = {
    **dict.fromkeys(["512", "64", "2048"], "the base Transformer's hyper-parameters (Vaswani et al., Table 3)"),
    **dict.fromkeys(["384", "12", "32"], "all-MiniLM-L6-v2's configuration: hidden size 384, 12 heads of 32"),
}
# Numbers that one page may type, and why.
ALLOWED = {
    "01_word_vectors": {"0.9": "the target an exercise asks for, not a result"},
    "03_scaling": dict.fromkeys(["0.059", "0.250", "0.089", "0.131"], "quoted from the source notes' experiment"),
    "04_multi_head": {
        "144": "BERT-base's 12 x 12 heads, as Clark et al. count them",
        "38": "Voita et al.'s pruning result, quoted", "48": "Voita et al.'s pruning result, quoted",
        "0.15": "Voita et al.'s pruning result, quoted",
    },
    "09_transformer": {
        **dict.fromkeys(["3.2.3", "3.3", "3.4", "5.3", "5.4"], "sections of Vaswani et al. the text cites"),
        **dict.fromkeys(["65", "213"], "Vaswani et al.'s Table 3 parameter counts, quoted to compare with the code's"),
        "0.6": "the paper's length penalty, quoted",
    },
    "running": {
        "1.0": "the definition of the ratio (1.0 = as fast as PyTorch)",
        "60": "a display's refresh rate, a definition", "16.7": "one frame at 60 Hz, a definition",
    },
    "interview": {**dict.fromkeys(["3.4", "5.3", "5.4"], "section numbers of Vaswani et al. (2017), cited"),
                  "3.1": "section number of Devlin et al. (2019), cited"},
}

STRIP = [
    (r"```.*?```", re.S),  # code blocks, directives (their bodies are checked as Markdown cells of their own)
    (r":::\{[\w-]+\}.*?$", re.M),  # the opening line of a colon fence (its label)
    (r"\$\$.*?\$\$", re.S),  # display math
    (r"\$[^$\n]+\$", 0),  # inline math
    (r"\{[\w:-]+\}`[^`]*`", 0),  # roles: {glue:text}`x:.2f`, {footcite}`key`, {ref}`label`
    (r"`[^`\n]*`", 0),  # code spans
    (r"\]\([^)]*\)", 0),  # link targets
    (r"^:[\w-]+:.*$", re.M),  # directive options (:label: ch01-ex-...)
    (r"^\([^)]*\)=$", re.M),  # target labels
    (r"<!--.*?-->", re.S),
]
NUMBER = re.compile(r"(?<![\w.-])\d[\d,.]*(?![\w-])")


def typed_numbers(markdown: str) -> list[tuple[str, str]]:
    """``(number, context)`` for every digit sequence the prose of ``markdown`` types."""
    for pattern, flags in STRIP:
        markdown = re.sub(pattern, " ", markdown, flags=flags)
    found = []
    for m in NUMBER.finditer(markdown):
        number = m.group(0).rstrip(".,")
        context = " ".join(markdown[max(0, m.start() - 40): m.end() + 30].split())
        found.append((number, context))
    return found


def code_literals(cells: list[dict]) -> set[float]:
    """Every int and float literal in the page's code cells (cells with IPython magics are skipped)."""
    values = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float):
                values.add(float(node.value))
    return values


def _pages():
    for source in toc_sources():
        if source.suffix == ".ipynb":
            cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        else:
            cells = [{"cell_type": "markdown", "source": source.read_text(encoding="utf-8")}]
        yield source.stem, cells


def _allowed(page: str, number: str, literals: set[float]) -> bool:
    if re.fullmatch(r"\d", number) or re.fullmatch(r"(19|20)\d\d", number):
        return True
    if number in ALLOWED_EVERYWHERE or number in ALLOWED.get(page, {}):
        return True
    try:
        return float(number.replace(",", "")) in literals
    except ValueError:
        return False


PAGES = dict(_pages())


@pytest.mark.parametrize("page", sorted(PAGES))
def test_prose_types_no_number(page):
    cells = PAGES[page]
    literals = code_literals(cells)
    typed = [
        (number, context)
        for cell in cells if cell["cell_type"] == "markdown"
        for number, context in typed_numbers("".join(cell["source"]))
        if not _allowed(page, number, literals)
    ]
    assert not typed, f"{page}: numbers typed into the prose (glue them, or see this test's docstring):\n  " + (
        "\n  ".join(f"{n!r} in ...{c}..." for n, c in typed))


def test_the_scanner_finds_typed_numbers_and_skips_glue_math_and_code():
    text = ("It reached 97.5% in 300 steps, {glue:text}`acc:.1f` with glue, $d_k = 1024$ in math, "
            "`steps=400` in code, in 2017, at position 0 {footcite}`vaswani2017attention`.")
    assert [n for n, _ in typed_numbers(text)] == ["97.5", "300", "2017", "0"]
    assert _allowed("x", "2017", set()) and _allowed("x", "0", set()) and not _allowed("x", "97.5", set())
    assert _allowed("x", "300", {300.0}) and _allowed("x", "4,096", {4096.0})


def test_allow_list_entries_are_still_used():
    # an entry for a number the page no longer types must go, so the list stays short
    for page, entries in ALLOWED.items():
        typed = {n for c in PAGES[page] if c["cell_type"] == "markdown" for n, _ in typed_numbers("".join(c["source"]))}
        assert set(entries) <= typed, f"{page}: allow-list entries no longer typed: {set(entries) - typed}"
