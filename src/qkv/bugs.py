"""Classic attention and Transformer bugs, as switches on qkv's own code (the appendix's bug gallery).

Each :class:`Bug` names one qkv function or method, the exact source text to replace in it and the
replacement, what goes wrong, and the test of qkv's suite that catches it. ``enabled(name)`` is a
context manager: it recompiles the target's *real* source with that text changed and swaps the new
function in wherever the original is bound (its module, every loaded module that imported it, the
class for a method), and puts the original back on exit. Nothing is patched when no switch is on, so
the switches cost nothing; and if a refactor changes the lines a bug replaces, ``enabled`` fails
loudly instead of silently switching nothing.

>>> import qkv.masks
>>> with enabled("causal-mask-inverted"):
...     print(qkv.masks.causal_mask(3).int())
tensor([[1, 1, 1],
        [0, 1, 1],
        [0, 0, 1]], dtype=torch.int32)
>>> qkv.masks.causal_mask(3).int()[0].tolist()      # off again
[1, 0, 0]

(A name bound in a namespace that is not a loaded module's globals, such as a
doctest's ``from qkv.masks import causal_mask``, keeps the original: call through the module.)

``python -m pytest NODEID --qkv-bug NAME`` runs a test with the bug on (tests/conftest.py), and
tests/unit/test_bugs.py checks that every bug's test fails with its switch on and passes with it off.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import sys
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Bug:
    """One classic bug: where it goes in qkv, the text it changes, what it does, and the test that catches it.

    Attributes:
        name: short id, e.g. ``"softmax-wrong-axis"``.
        target: ``"module:qualname"`` of a function or method, e.g. ``"qkv.attention:masked_softmax"``.
        edits: ``(old, new)`` pairs: each ``old`` must occur exactly once in the target's source.
        summary: the mistake, in one line. symptom: what goes wrong.
        test: the pytest node id that catches it (relative to the repository root).

    >>> bug = BUGS["layernorm-unbiased"]
    >>> bug.target, bug.test.split("::")[1]
    ('qkv.norms:LayerNorm.forward', 'test_layer_norm_matches_torch')
    """

    name: str
    target: str
    edits: tuple[tuple[str, str], ...]
    summary: str
    symptom: str
    test: str


class BugDetached(RuntimeError):
    """A bug's ``old`` text is no longer found exactly once in its target's source (qkv was refactored).

    >>> issubclass(BugDetached, RuntimeError)
    True
    """


_T = "tests/unit/"
BUGS = {bug.name: bug for bug in [
    Bug("softmax-wrong-axis", "qkv.attention:masked_softmax",
        (("dim=-1)\n    return", "dim=-2)\n    return"),),
        "the softmax normalises over the queries (dim=-2) instead of the keys (dim=-1)",
        "each key's column sums to one, not each query's row: the weights are no longer an average",
        _T + "test_attention.py::test_softmax_rows_sum_to_one_and_ignore_a_constant_added_to_a_row"),
    Bug("no-scaling", "qkv.attention:scaled_dot_product_attention",
        (("scale = 1.0 / math.sqrt(query.size(-1))", "scale = 1.0"),),
        "the scores are not divided by sqrt(d_k)",
        "score variance d_k: the softmax saturates and its gradient vanishes at large d_k",
        _T + "test_attention.py::test_sdpa_matches_torch_forward_and_gradients"),
    Bug("scale-by-d-model", "qkv.attention:MultiHeadAttention.forward",
        (("scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p)",
          "scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p, scale=self.d_model**-0.5)"),),
        "each head's scores are divided by sqrt(d_model), the full width, instead of sqrt(head_dim)",
        "scores too small by sqrt(num_heads): every head's attention is flatter than it should be",
        _T + "test_attention.py::test_mha_matches_torch_forward_and_gradients"),
    Bug("heads-reshape-no-transpose", "qkv.attention:MultiHeadAttention.forward",
        (("x.view(x.size(0), x.size(1), self.num_heads, self.head_dim).transpose(1, 2)",
          "x.reshape(x.size(0), self.num_heads, x.size(1), self.head_dim)"),),
        "heads split with a reshape to [B, heads, L, head_dim] and no transpose",
        "a 'head' holds slices of several positions: tokens are mixed across positions before attention",
        _T + "test_attention.py::test_mha_matches_torch_forward_and_gradients"),
    Bug("causal-mask-inverted", "qkv.masks:causal_mask",
        ((".tril()", ".triu()"),),
        "the causal mask is upper-triangular: each query sees itself and the future, not the past",
        "the decoder reads the tokens it must predict (a leak); at generation time they are not there",
        _T + "test_transformer.py::test_transformer_logits_never_depend_on_later_target_tokens"),
    Bug("causal-mask-off-by-one", "qkv.masks:causal_mask",
        ((".tril()", ".tril(1)"),),
        "the causal mask keeps one diagonal too many: query i also sees key i + 1",
        "each position sees the very token it predicts: the training loss falls to zero, generation fails",
        _T + "test_transformer.py::test_transformer_logits_never_depend_on_later_target_tokens"),
    Bug("mask-after-softmax", "qkv.attention:masked_softmax",
        (('scores = scores.masked_fill(~mask, float("-inf"))', "pass  # the mask is applied after the softmax"),
         ("return weights.masked_fill(masked, 0.0)",
          "return weights.masked_fill(masked if mask is None else masked | ~mask, 0.0)")),
        "the masked weights are zeroed after the softmax, without renormalising",
        "rows no longer sum to one, and the masked keys' scores still shape every visible weight (a leak)",
        _T + "test_attention.py::test_softmax_rows_sum_to_one_and_ignore_a_constant_added_to_a_row"),
    Bug("finite-fill", "qkv.attention:masked_softmax",
        (('scores = scores.masked_fill(~mask, float("-inf"))', "scores = scores.masked_fill(~mask, -1e9)"),),
        "masked scores are filled with -1e9 instead of -inf",
        "a query whose keys are all masked averages them uniformly instead of getting zeros",
        _T + "test_attention.py::test_fully_masked_row_gives_zero_weights_zero_output_and_finite_gradients"),
    Bug("softmax-without-max", "qkv.attention:masked_softmax",
        (("weights = torch.softmax(scores.masked_fill(masked.all(-1, keepdim=True), 0.0), dim=-1)",
          "e = scores.masked_fill(masked.all(-1, keepdim=True), 0.0).exp()\n"
          "    weights = e / e.sum(-1, keepdim=True)  # exp without subtracting the maximum"),),
        "the softmax is written as exp(s) / sum(exp(s)), without subtracting the row's maximum",
        "exp overflows to inf above a score of about 88 in float32 (11 in float16): inf / inf = NaN",
        _T + "test_attention.py::test_masked_softmax_is_finite_for_large_scores"),
    Bug("padding-mask-on-queries", "qkv.masks:padding_mask",
        (("return (positions[None, :] < lengths[:, None])[:, None, None, :]",
          "return (positions[None, :] < lengths[:, None])[:, None, :, None]"),),
        "the padding mask is shaped [B, 1, L, 1] and hides padded queries (rows) instead of keys (columns)",
        "the real tokens still attend to the padding, so their outputs depend on how much padding there is",
        _T + "test_masks.py::test_padding_mask_from_lengths"),
    Bug("layernorm-unbiased", "qkv.norms:LayerNorm.forward",
        (("unbiased=False, keepdim=True)  # biased: divide by n, as PyTorch does",
          "unbiased=True, keepdim=True)  # unbiased: divide by n - 1"),),
        "LayerNorm divides by the unbiased variance (n - 1) instead of the biased one (n)",
        "outputs shrink by sqrt((n - 1) / n): a small error that breaks loading pretrained weights exactly",
        _T + "test_norms.py::test_layer_norm_matches_torch"),
    Bug("dropout-in-eval", "qkv.attention:MultiHeadAttention.forward",
        (("dropout_p = self.dropout if self.training else 0.0", "dropout_p = self.dropout"),),
        "attention dropout is applied in eval() too",
        "evaluation is random: the same input gives different outputs, weights no longer sum to one",
        _T + "test_attention.py::test_mha_dropout_only_in_training"),
    Bug("pre-norm-is-post-norm", "qkv.transformer:EncoderLayer.forward",
        (("        h = self.norm1(x)\n"
          "        attn, weights = self.self_attn(h, h, h, mask)\n"
          "        x = x + self.dropout1(attn)\n"
          "        x = x + self.dropout2(self.ff(self.norm2(x)))",
          "        attn, weights = self.self_attn(x, x, x, mask)\n"
          "        x = self.norm1(x + self.dropout1(attn))\n"
          "        x = self.norm2(x + self.dropout2(self.ff(x)))"),),
        "the norm_first=True (pre-norm) branch computes post-norm: norm(x + f(x)), not x + f(norm(x))",
        "the layer is not the one it claims to be: no un-normalised residual path, warm-up needed again",
        _T + "test_transformer.py::test_encoder_layer_matches_torch"),
    Bug("decoder-input-not-shifted", "qkv.train:shifted_cross_entropy",
        (("logits = model(src, tgt[:, :-1])", "logits = model(src, tgt)"),
         ('_check_outputs("logits", logits, tgt[:, 1:], extra=1)', '_check_outputs("logits", logits, tgt, extra=1)'),
         ("tgt[:, 1:].flatten()", "tgt.flatten()")),
        "the decoder reads the whole target and is trained to predict the token at its own position",
        "position t sees the token it must predict: the loss falls to zero by copying, generation fails",
        _T + "test_train.py::test_shifted_cross_entropy_feeds_the_decoder_the_target_shifted_right"),
    Bug("encoder-input-to-decoder", "qkv.train:shifted_cross_entropy",
        (("logits = model(src, tgt[:, :-1])", "logits = model(src, src[:, :-1])"),),
        "the decoder is fed the source sentence in place of the (shifted) target",
        "the decoder never sees the prefix it continues: it can only guess each token from the source",
        _T + "test_train.py::test_shifted_cross_entropy_feeds_the_decoder_the_target_shifted_right"),
    Bug("sin-cos-swapped", "qkv.positional:sinusoidal_encoding",
        (("pe[:, 0::2] = torch.sin(angle)\n    pe[:, 1::2] = torch.cos(angle)",
          "pe[:, 0::2] = torch.cos(angle)\n    pe[:, 1::2] = torch.sin(angle)"),),
        "sine and cosine columns swapped",
        "a different table from the paper's: weights trained with one do not fit the other",
        _T + "test_positional.py::test_sinusoidal_encoding_matches_the_formula_of_the_paper"),
]}

_active: dict[str, tuple[object, str]] = {}  # target -> (original function, bug name) while a switch is on


def _resolve(target):
    """``"module:qualname"`` -> (module, owner (module or class), attribute name, function)."""
    module_name, _, qualname = target.partition(":")
    module = importlib.import_module(module_name)
    owner = module
    *path, attr = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    fn = vars(owner)[attr] if isinstance(owner, type) else getattr(owner, attr)
    if not inspect.isfunction(fn):
        raise TypeError(f"target: expected a plain function or method, got {type(fn).__name__} for {target!r}")
    return module, owner, attr, fn


def _get(name):
    if name not in BUGS:
        raise ValueError(f"name: expected one of {sorted(BUGS)}, got {name!r}")
    return BUGS[name]


def buggy_source(name):
    """``(correct, buggy)``: the target's real source and the source with the bug's edits applied.

    Raises :class:`BugDetached` if an edit's ``old`` text is not found exactly once.

    >>> correct, buggy = buggy_source("no-scaling")
    >>> "scale = 1.0 / math.sqrt(query.size(-1))" in correct, "scale = 1.0\\n" in buggy
    (True, True)
    """
    bug = _get(name)
    fn = _active[bug.target][0] if bug.target in _active else _resolve(bug.target)[3]
    correct = textwrap.dedent(inspect.getsource(fn))
    buggy = correct
    for old, new in bug.edits:
        count = buggy.count(old)
        if count != 1:
            raise BugDetached(f"{name}: the text to replace in {bug.target} occurs {count} times (expected once), "
                              f"so the bug is detached from the code: {old!r}")
        buggy = buggy.replace(old, new)
    return correct, buggy


def diff(name):
    """The lines the bug changes, as a unified diff of the target's source (correct -> buggy).

    >>> print(diff("dropout-in-eval"))
    --- qkv.attention:MultiHeadAttention.forward (qkv)
    +++ qkv.attention:MultiHeadAttention.forward (dropout-in-eval)
         v = split_heads(self.v_proj(value))
    -    dropout_p = self.dropout if self.training else 0.0
    +    dropout_p = self.dropout
         out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p)
    """
    correct, buggy = buggy_source(name)
    bug = _get(name)
    lines = difflib.unified_diff(correct.splitlines(), buggy.splitlines(), f"{bug.target} (qkv)",
                                 f"{bug.target} ({name})", n=1, lineterm="")
    return "\n".join(line for line in lines if not line.startswith("@@"))


@contextlib.contextmanager
def enabled(name):
    """Turn bug ``name`` on in qkv for the duration of a ``with`` block (one bug per target at a time).

    The target is recompiled from its source with the bug's edits, in its own module's namespace (so
    it sees the same globals) and with its original file name and line numbers (tracebacks point at
    the real file), then bound in place of the original in its module or class and in every loaded
    module whose globals hold the original by identity. A reference kept elsewhere (a callback
    stored in a list, say) is not reached.

    >>> import torch
    >>> from qkv.attention import MultiHeadAttention
    >>> mha, x = MultiHeadAttention(8, 2, dropout=0.5).eval(), torch.randn(1, 4, 8)
    >>> with enabled("dropout-in-eval"):     # two evaluations of the same input differ
    ...     torch.equal(mha(x, x, x)[0], mha(x, x, x)[0])
    False
    >>> torch.equal(mha(x, x, x)[0], mha(x, x, x)[0])
    True
    """
    bug = _get(name)
    if bug.target in _active:
        raise RuntimeError(f"name: {bug.target} already has bug {_active[bug.target][1]!r} on; "
                           f"turn it off before turning on {name!r}")
    module, owner, attr, original = _resolve(bug.target)
    _, buggy = buggy_source(name)
    # co_firstlineno is the line of the first decorator, where getsource starts: line numbers match.
    code = compile("\n" * (original.__code__.co_firstlineno - 1) + buggy, original.__code__.co_filename, "exec")
    namespace = {}
    exec(code, module.__dict__, namespace)  # noqa: S102 - qkv's own source with the bug's edits
    replacement = namespace[original.__name__]
    replacement.__qkv_bug__ = name
    if inspect.isfunction(replacement) and replacement.__code__.co_freevars:
        raise TypeError(f"target: {bug.target} uses a closure; it cannot be recompiled alone")
    # Everywhere the original is bound by identity: its own module or class, and the importers' globals.
    bindings = [(owner, attr)] + [binding for binding in _bound_to(original) if binding != (owner, attr)]
    _active[bug.target] = (original, name)
    try:
        for obj, key in bindings:
            setattr(obj, key, replacement)
        yield bug
    finally:
        # A module imported while the bug was on bound the replacement itself: find those too, by identity.
        for obj, key in bindings + _bound_to(replacement):
            setattr(obj, key, original)
        del _active[bug.target]


def _bound_to(fn):
    """``(module, name)`` for every loaded module whose globals hold ``fn``."""
    found = []
    for mod in list(sys.modules.values()):
        namespace = getattr(mod, "__dict__", None)
        if isinstance(namespace, dict):
            found += [(mod, key) for key, value in list(namespace.items()) if value is fn]
    return found
