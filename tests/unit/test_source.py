"""qkv.source shows real lines only: every object a chapter shows is rendered and checked line by line."""

import ast
import importlib
import inspect
import json
import textwrap

import pytest

from booktoc import ROOT
from qkv.source import show_source, teaching_source


def _shown_in_chapters():
    """(notebook, expression, object) for every ``show_source(expression)`` in the chapters' code."""
    found = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        code = [
            "".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
            if c["cell_type"] == "code" and not "".join(c["source"]).lstrip().startswith(("%", "!"))
        ]
        namespace = {}
        calls = []
        for source in code:
            try:
                tree = ast.parse(source)
            except SyntaxError:  # a cell with IPython magics
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    module = getattr(node, "module", None) or ""
                    if module.startswith("qkv") or any(a.name.startswith("qkv") for a in node.names):
                        exec(compile(ast.Module([node], []), str(path), "exec"), namespace)
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "show_source":
                    calls.append(ast.unparse(node.args[0]))
        found += [(path.stem, expr, eval(expr, namespace)) for expr in calls]
    return found


SHOWN = _shown_in_chapters()


def test_the_chapters_show_source_with_the_helper():
    assert len(SHOWN) >= 6, SHOWN
    raw = [p.stem for p in (ROOT / "book").glob("*.ipynb") if "inspect.getsource" in p.read_text(encoding="utf-8")]
    assert not raw, f"chapters that show source without qkv.source.show_source: {raw}"


@pytest.mark.parametrize("chapter, expression, obj", SHOWN, ids=[f"{c}:{e}" for c, e, _ in SHOWN])
def test_every_shown_line_is_a_line_of_the_source(chapter, expression, obj):
    source_lines = textwrap.dedent(inspect.getsource(obj)).splitlines()
    shown = teaching_source(obj).splitlines()
    for line in shown:
        closing = line.endswith(('"""', "'''")) and line[:-3] in source_lines  # the cut docstring
        assert line in source_lines or closing, f"{expression}: shown line not in the source: {line!r}"
    position = -1
    for line in shown:  # each shown line is found after the previous one: the source's order
        target = line if line in source_lines else line[:-3]
        later = [i for i, s in enumerate(source_lines) if s == target and i > position]
        assert later, f"{expression}: shown out of the source's order: {line!r}"
        position = later[0]
    tree = ast.parse("\n".join(shown))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    names = [ast.unparse(c.value.func) for c in calls]
    assert not [n for n in names if n.split(".")[-1].startswith(("check_", "_check"))], names


def test_docstring_is_cut_to_its_first_line_and_checks_are_dropped():
    module = importlib.import_module("qkv.heads")
    shown = teaching_source(module.offset_score)
    assert shown.splitlines()[1].strip() == (
        '"""Mean weight that a query puts on the key ``offset`` positions away: ``attn[..., i, i + offset]``."""'
    )
    assert "raise" not in shown and "_check_map" not in shown
    assert "return attn[..., queries, queries + offset].mean(-1)" in shown


def test_logic_inside_an_if_is_kept_and_a_check_inside_it_dropped():
    module = importlib.import_module("qkv.attention")
    shown = teaching_source(module.scaled_dot_product_attention)
    assert "        scores = scores + bias" in shown.splitlines()
    assert "check_bias" not in shown and "check_attention_inputs" not in shown


def test_a_loop_of_checks_is_dropped_whole():
    module = importlib.import_module("qkv.attention")
    shown = teaching_source(module.MultiHeadAttention.forward)
    assert "for name, x in" not in shown and "check_" not in shown
    assert "return self.out_proj(out), weights" in shown


def test_show_source_is_a_highlighted_code_block():
    module = importlib.import_module("qkv.attention")
    block = show_source(module.masked_softmax)
    assert block.data == teaching_source(module.masked_softmax)
    assert block.language == "python" and '<span class="k">def</span>' in block._repr_html_()


def test_an_assignment_that_only_fed_a_check_goes_with_it():
    module = importlib.import_module("qkv.attention")
    shown = teaching_source(module.scaled_dot_product_attention)
    source = inspect.getsource(module.scaled_dot_product_attention)
    assert "scores_shape =" in source and "scores_shape" not in shown
    assert "scale = 1.0 / math.sqrt(query.size(-1))" in shown  # read by the logic: kept
