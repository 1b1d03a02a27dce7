"""Show the lines of ``qkv`` that teach: a function's real source, without its plumbing.

A chapter that explains :func:`qkv.attention.scaled_dot_product_attention` shows its source, so the
page and the library are one. Most of a public function, though, is its docstring and its argument
checks; the idea is a few lines. :func:`teaching_source` keeps the real lines and drops two kinds:

- the docstring, cut to its first line (the summary);
- argument checks: statements that call a check helper (``checks.check_float(...)``,
  ``_check_map(...)``, ``self._check_inputs(...)`` used as a statement), and ``if`` blocks whose only
  body is a ``raise`` (``if x < 0: raise ValueError(...)``).

Nothing is rewritten: every line shown is a line of the source file (the shortened docstring is its
first line with the closing quotes added), in the source's order, so the page cannot drift from the
code. ``tests/unit/test_source.py`` checks this for every object a chapter shows.

>>> from qkv.heads import offset_score
>>> full, shown = inspect.getsource(offset_score), teaching_source(offset_score)
>>> len(full.splitlines()) > 3 * len(shown.splitlines())   # most of the function is plumbing
True
"""

from __future__ import annotations

import ast
import inspect
import textwrap


def _is_check_call(node):
    """True for a call whose function is named ``check_*`` or ``_check*`` (a bare name or an attribute)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name.startswith(("check_", "_check"))


def _is_check(statement):
    """An argument check: a check helper called as a statement, ``if ...: raise ...`` with no else, or
    a loop or ``if`` whose whole body is checks (``for name, x in ...: check_float(name, x)``)."""
    if isinstance(statement, ast.Expr) and _is_check_call(statement.value):
        return True
    if isinstance(statement, ast.If) and not statement.orelse:
        return all(isinstance(s, ast.Raise) or _is_check(s) for s in statement.body)
    if isinstance(statement, ast.For) and not statement.orelse:
        return all(_is_check(s) for s in statement.body)
    return False


def _checks_in(body):
    """The checks among ``body`` and, recursively, inside its compound statements' bodies."""
    for statement in body:
        if _is_check(statement):
            yield statement
        elif not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody"):
                yield from _checks_in(getattr(statement, field, []) or [])


def _docstring_node(node):
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[0]
    return None


def _dropped_lines(tree, lines):
    """The 1-based line numbers to drop, and the docstrings to shorten ``{first line: replacement}``."""
    drop, shorten = set(), {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        doc = _docstring_node(node)
        if doc is not None and doc.end_lineno > doc.lineno:
            first = lines[doc.lineno - 1].rstrip()
            quote = '"""' if '"""' in first else "'''"
            shorten[doc.lineno] = first + quote
            drop.update(range(doc.lineno + 1, doc.end_lineno + 1))
        checks = list(_checks_in(node.body))
        for statement in checks:
            drop.update(range(statement.lineno, statement.end_lineno + 1))
        drop.update(_feeds_only_checks(node, checks))
    return drop, shorten


def _feeds_only_checks(function, checks):
    """Lines of assignments in ``function``'s body whose names only the dropped checks read.

    ``shape = (...)`` computed for ``check_mask("mask", mask, shape)`` would be left dangling once the
    check is gone: it is plumbing too.
    """
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set()
    in_checks = {n.id for c in checks for n in ast.walk(c) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    dropped = set()
    for statement in function.body:
        if not (isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets)):
            continue
        names = {t.id for t in statement.targets}
        others = [s for s in function.body if s is not statement and s not in checks]
        read_elsewhere = {n.id for s in others for n in ast.walk(s)
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if names <= in_checks and not names & read_elsewhere:
            dropped.update(range(statement.lineno, statement.end_lineno + 1))
    return dropped


def teaching_source(obj):
    """The source of ``obj`` (a function, method or class) with its docstring cut and its checks left out.

    Args:
        obj: anything ``inspect.getsource`` accepts.

    Returns:
        the source as a string, dedented, ending without a newline.

    >>> from qkv.attention import masked_softmax
    >>> shown = teaching_source(masked_softmax)
    >>> shown.splitlines()[0]
    'def masked_softmax(scores, mask=None):'
    >>> summary = shown.splitlines()[1].strip()      # the docstring, cut to its first line
    >>> summary.startswith('\"\"\"Softmax over the last dimension'), summary.endswith('zero.\"\"\"')
    (True, True)
    >>> "check_mask" in shown, "masked_fill" in shown
    (False, True)
    """
    source = textwrap.dedent(inspect.getsource(obj))
    lines = source.splitlines()
    drop, shorten = _dropped_lines(ast.parse(source), lines)
    kept = []
    for number, line in enumerate(lines, start=1):
        if number in drop:
            continue
        line = shorten.get(number, line)
        if not line.strip() and (not kept or not kept[-1].strip() or number - 1 in drop):
            continue  # no blank line at the top, none doubled, none left where checks were removed
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def show_source(obj):
    """:func:`teaching_source` as a syntax-highlighted code block for a notebook cell.

    >>> from qkv.attention import masked_softmax
    >>> show_source(masked_softmax).data.startswith("def masked_softmax")
    True
    """
    from IPython.display import Code  # only notebooks need IPython

    return Code(teaching_source(obj), language="python")
