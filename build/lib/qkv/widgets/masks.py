"""Widget 4: mask playground. Padding and causal masks, fill values and dtypes, and where each breaks.

A small batch of sequences (lengths set by the reader, padded to ``max_len``) gets random scores; the
mask from :mod:`qkv.masks` is applied the way many codebases do it, by *adding* a bias of ``fill`` to
the masked scores, and the softmax runs in the chosen dtype:

    weights = softmax(scores.to(dtype) + where(mask, 0, fill).to(dtype))

Everything is computed here with real float16 and bfloat16 arithmetic and shipped to the browser, so
the page shows what PyTorch does: ``-1e9`` overflows to ``-inf`` in float16; a row whose keys are all
masked is 0/0 (not a number) with ``-inf``, or spreads its weight over the padding with a finite fill;
and a finite fill that is small next to the scores leaves weight on the padding.
(:func:`qkv.attention.masked_softmax` avoids all three: it fills with ``-inf`` and zeroes masked rows.)
"""

from __future__ import annotations

import torch
import traitlets

from qkv import checks
from qkv.masks import causal_mask, combine_masks, padding_mask
from qkv.widgets._common import INT16_MAX, QKVWidget, front_end, int16_bytes

FILLS = ("-inf", "-1e9", "-1e4", "-1000")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
LOGIT_SCALES = (1, 1000, 10_000, 100_000)


def additive_masked_softmax(scores, mask, fill, dtype):
    """``softmax(scores + where(mask, 0, fill))`` with the sum and the softmax in ``dtype``.

    ``fill`` is converted to ``dtype`` like any constant (``-1e9`` becomes ``-inf`` in float16).
    Unlike :func:`qkv.attention.masked_softmax` nothing is repaired: a fully masked row with
    ``fill=-inf`` is NaN, and a finite ``fill`` can leave weight on masked keys.

    >>> mask = torch.tensor([[True, False], [False, False]])
    >>> additive_masked_softmax(torch.zeros(2, 2), mask, float("-inf"), torch.float32)
    tensor([[1., 0.],
            [nan, nan]])
    >>> additive_masked_softmax(torch.zeros(2, 2), mask, -1e9, torch.bfloat16)
    tensor([[1.0000, 0.0000],
            [0.5000, 0.5000]], dtype=torch.bfloat16)
    """
    bias = torch.where(mask, torch.tensor(0.0), torch.tensor(float(fill))).to(dtype)
    return torch.softmax(scores.to(dtype) + bias, dim=-1)


def mask_table(max_len):
    """Every mask the playground can show: ``[length 0..max_len][causal 0/1][mask queries 0/1]`` -> ``[L, L]``.

    Built with :func:`qkv.masks.padding_mask`, :func:`~qkv.masks.causal_mask` and
    :func:`~qkv.masks.combine_masks`. "Mask queries" also hides padded *queries* (mask rows), as a
    mask built from ``real[i] and real[j]`` does; their rows then have no key at all.

    >>> mask_table(3)[2][1][0].int().tolist()   # length 2, causal, padded queries not masked
    [[1, 0, 0], [1, 1, 0], [1, 1, 0]]
    """
    table = []
    for n in range(max_len + 1):
        keys = padding_mask(torch.tensor([n]), max_len=max_len)[0, 0]  # [1, L]: real keys
        queries = keys.transpose(0, 1)  # [L, 1]: real queries
        table.append([[combine_masks(torch.ones(max_len, max_len, dtype=torch.bool), keys,
                                     causal_mask(max_len) if causal else None, queries if mask_q else None)
                       for mask_q in (False, True)] for causal in (False, True)])
    return table


def row_table(logits, fills=FILLS, dtypes=tuple(DTYPES), scales=LOGIT_SCALES):
    """Weights of every row the playground can show.

    Every mask row is a prefix (keys ``0..m-1`` allowed, ``m = 0..L``), so one row of weights depends on
    the sequence ``b``, the query ``i``, ``m``, the fill, the dtype and the logit scale.

    Returns: float32 ``[B, L, L + 1, fills, dtypes, scales, L]`` (NaN where PyTorch gives NaN).

    >>> row_table(torch.zeros(1, 2, 2)).shape
    torch.Size([1, 2, 3, 4, 3, 4, 2])
    """
    B, L, _ = logits.shape
    out = torch.empty(B, L, L + 1, len(fills), len(dtypes), len(scales), L)
    for m in range(L + 1):
        mask = torch.arange(L) < m  # [L], broadcast over the rows
        for f, fill in enumerate(fills):
            for d, name in enumerate(dtypes):
                for s, scale in enumerate(scales):
                    weights = additive_masked_softmax(logits * scale, mask, float(fill), DTYPES[name])
                    out[:, :, m, f, d, s] = weights.float()
    return out


def fill_notes(fills=FILLS, dtypes=tuple(DTYPES)):
    """``(stored, masked_fill_error)``: per fill and dtype, the fill as the dtype stores it, and the
    error ``scores.masked_fill(~mask, fill)`` raises (``""`` if none).

    >>> stored, errors = fill_notes()
    >>> stored[1], bool(errors[1][1])   # -1e9 in float32, float16, bfloat16; float16 masked_fill raises
    (['-1e+09', '-inf', '-9.982e+08'], True)
    """
    stored, errors = [], []
    for fill in fills:
        stored.append([f"{torch.tensor(float(fill)).to(DTYPES[d]).item():.4g}" for d in dtypes])
        row = []
        for d in dtypes:
            try:
                torch.zeros(2, dtype=DTYPES[d]).masked_fill(torch.tensor([False, True]), float(fill))
                row.append("")
            except RuntimeError as error:
                row.append(str(error).split("\n")[0])
        errors.append(row)
    return stored, errors


class MaskPlayground(QKVWidget):
    """Padding and causal masks on a small batch, with the fill value and dtype that break them.

    Args:
        lengths: the real length of each sequence (0 to ``max_len``; 0 = all padding).
        max_len: the padded length (2 to 8). causal: add the causal mask.
        mask_queries: also mask padded queries (their rows then have no key).
        fill: one of ``FILLS``. dtype: "float32", "float16" or "bfloat16".
        logit_scale: one of ``LOGIT_SCALES``: the scores are standard normal times this.
        seed: the random scores.

    >>> w = MaskPlayground(lengths=(3, 0), max_len=3, fill="-inf")
    >>> w.weights()[1].isnan().all().item()       # the all-padding sequence: 0/0 with -inf
    True
    >>> w.fill = "-1e9"
    >>> w.weights()[1]                            # finite fill: spread evenly over the padding
    tensor([[0.3333, 0.3333, 0.3333],
            [0.3333, 0.3333, 0.3333],
            [0.3333, 0.3333, 0.3333]])
    """

    _esm = front_end("masks")

    lengths = traitlets.List(traitlets.Int()).tag(sync=True)
    max_len = traitlets.Int(5).tag(sync=True)
    causal = traitlets.Bool(False).tag(sync=True)
    mask_queries = traitlets.Bool(False).tag(sync=True)
    fill = traitlets.Unicode("-inf").tag(sync=True)
    dtype = traitlets.Unicode("float32").tag(sync=True)
    logit_scale = traitlets.Int(1).tag(sync=True)
    fills = traitlets.List(traitlets.Unicode(), default_value=list(FILLS)).tag(sync=True)
    dtypes = traitlets.List(traitlets.Unicode(), default_value=list(DTYPES)).tag(sync=True)
    scales = traitlets.List(traitlets.Int(), default_value=list(LOGIT_SCALES)).tag(sync=True)
    masks = traitlets.List().tag(sync=True)  # [n][causal][mask_queries] -> [L][L] of 0/1
    stored_fill = traitlets.List().tag(sync=True)  # [fill][dtype] -> str
    masked_fill_error = traitlets.List().tag(sync=True)  # [fill][dtype] -> str
    rows = traitlets.Bytes().tag(sync=True)  # int16 [B, L, L+1, F, D, S, L], weight * 32767, NaN = -32768
    scale = traitlets.Int(INT16_MAX).tag(sync=True)

    def __init__(self, lengths=(5, 3, 0), max_len=5, causal=False, mask_queries=False, fill="-inf",
                 dtype="float32", logit_scale=1, seed=0, **kwargs):
        max_len = checks.check_int("max_len", max_len, 2, 8)
        if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__len__") or not 1 <= len(lengths) <= 4:
            raise ValueError(f"lengths: expected 1 to 4 sequence lengths, got {lengths!r}")
        lengths = [checks.check_int(f"lengths[{b}]", n, 0, max_len) for b, n in enumerate(lengths)]
        for name, value, options in (("fill", fill, FILLS), ("dtype", dtype, tuple(DTYPES)),
                                     ("logit_scale", logit_scale, LOGIT_SCALES)):
            if value not in options or isinstance(value, bool):
                raise ValueError(f"{name}: expected one of {options}, got {value!r}")
        generator = torch.Generator().manual_seed(checks.check_int("seed", seed, 0, 2**63 - 1))
        self._logits = torch.randn(len(lengths), max_len, max_len, generator=generator)
        table = row_table(self._logits)
        stored, errors = fill_notes()
        masks = [[[m.int().tolist() for m in by_q] for by_q in by_causal] for by_causal in mask_table(max_len)]
        super().__init__(lengths=lengths, max_len=max_len, causal=checks.check_flag("causal", causal),
                         mask_queries=checks.check_flag("mask_queries", mask_queries), fill=fill, dtype=dtype,
                         logit_scale=logit_scale, masks=masks, stored_fill=stored, masked_fill_error=errors,
                         rows=int16_bytes(table, INT16_MAX, "rows"), **kwargs)

    @traitlets.validate("lengths")
    def _valid_lengths(self, proposal):
        value = proposal["value"]
        if self.rows and len(value) != len(self._logits):
            raise traitlets.TraitError(f"lengths: expected {len(self._logits)} lengths, got {value}")
        if any(not 0 <= n <= self.max_len for n in value):
            raise traitlets.TraitError(f"lengths: expected values in [0, {self.max_len}], got {value}")
        return value

    def mask(self):
        """The boolean mask ``[B, L, L]`` for the current lengths and switches (True = may attend)."""
        return torch.stack([torch.tensor(self.masks[n][int(self.causal)][int(self.mask_queries)], dtype=torch.bool)
                            for n in self.lengths])

    def weights(self):
        """The weights ``[B, L, L]`` for the current setting, computed now with PyTorch (float32 copy)."""
        dtype = DTYPES[self.dtype]
        return additive_masked_softmax(self._logits * self.logit_scale, self.mask(), float(self.fill), dtype).float()
