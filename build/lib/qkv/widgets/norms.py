"""Widget 5: LayerNorm vs BatchNorm. Which elements of a (batch, sequence, feature) block share statistics?

Pick one element: under LayerNorm it is normalised with the mean and variance of its own position's
features (one row); under BatchNorm with those of its feature over every sequence and position of
the batch (one column through the whole block). With padding, BatchNorm's statistics include the
padding positions (zeros), so the padding changes the real tokens' outputs; LayerNorm's do not.

The numbers come from :class:`qkv.norms.LayerNorm` and :class:`qkv.norms.BatchNorm1d` (training mode).
"""

from __future__ import annotations

import json

import torch
import traitlets

from qkv import checks
from qkv.masks import padding_mask
from qkv.norms import BatchNorm1d, LayerNorm
from qkv.widgets._common import QKVWidget, front_end, rounded


def norm_statistics(x, real=None):
    """Means, standard deviations and outputs of LayerNorm and BatchNorm for a block ``x [B, T, F]``.

    Returns a dict of nested lists (rounded to 4 decimals): ``ln_mean``, ``ln_std`` ``[B, T]`` (over
    the features of each position), ``bn_mean``, ``bn_std`` ``[F]`` (over batch and positions),
    ``ln_out``, ``bn_out`` ``[B, T, F]``. Standard deviations are the biased ones the norms divide by,
    ``sqrt(var + eps)`` with ``eps = 1e-5``. With a boolean ``real [B, T]`` (False = padding), also
    ``bn_mean_real``, ``bn_std_real`` and ``bn_out_real``: BatchNorm's statistics over the real
    positions only, as a padding-aware BatchNorm would take them (padding outputs 0).

    >>> s = norm_statistics(torch.tensor([[[1.0, 3.0], [5.0, 7.0]]]))
    >>> s["ln_mean"], s["bn_mean"], s["ln_out"][0][0]
    ([[2.0, 6.0]], [3.0, 5.0], [-1.0, 1.0])
    """
    if x.dim() != 3:
        raise ValueError(f"x: expected [batch, sequence, features], got shape {tuple(x.shape)}")
    x = x.double()
    F = x.shape[-1]
    with torch.no_grad():
        ln_out = LayerNorm(F).double()(x)
        bn_out = BatchNorm1d(F).double().train()(x.transpose(1, 2)).transpose(1, 2)  # BatchNorm1d wants [B, C, T]
    eps = 1e-5
    extra = {}
    if real is not None:
        w = real[..., None].double()  # [B, T, 1]
        count = w.sum((0, 1))  # [F]
        mean = (x * w).sum((0, 1)) / count
        var = (((x - mean) ** 2) * w).sum((0, 1)) / count
        extra = {"bn_mean_real": rounded(mean), "bn_std_real": rounded((var + eps).sqrt()),
                 "bn_out_real": rounded((x - mean) / (var + eps).sqrt() * w)}
    return extra | {
        "ln_mean": rounded(x.mean(-1)),
        "ln_std": rounded((x.var(-1, unbiased=False) + eps).sqrt()),
        "bn_mean": rounded(x.mean((0, 1))),
        "bn_std": rounded((x.var((0, 1), unbiased=False) + eps).sqrt()),
        "ln_out": rounded(ln_out),
        "bn_out": rounded(bn_out),
    }


class NormStatistics(QKVWidget):
    """A ``[batch, sequence, feature]`` block: pick an element, see whom it shares statistics with.

    Args:
        lengths: the real length of each sequence when padding is on (the rest are zeros).
        seq_len: the padded length. features: the feature size.
        padding: start with padding on. seed: the random block.
        element: the first picked element ``(sequence, position, feature)``, 0-based (default
            ``(0, 1, 2)``, or as near as the block allows).

    >>> w = NormStatistics(lengths=(4, 2), seq_len=4, features=3)
    >>> len(w.blocks["padded"]["x"]), len(w.blocks["full"]["x"][0]), len(w.blocks["full"]["bn_mean"])
    (2, 4, 3)
    """

    _esm = front_end("norms")

    lengths = traitlets.List(traitlets.Int()).tag(sync=True)
    padding = traitlets.Bool(True).tag(sync=True)
    blocks = traitlets.Dict().tag(sync=True)  # "full" / "padded" -> x and norm_statistics(x)
    batch = traitlets.Int(0).tag(sync=True)
    position = traitlets.Int(0).tag(sync=True)
    feature = traitlets.Int(0).tag(sync=True)

    def __init__(self, lengths=(5, 3, 2), seq_len=5, features=4, padding=True, seed=0, element=None, **kwargs):
        seq_len = checks.check_int("seq_len", seq_len, 1, 12)
        features = checks.check_int("features", features, 2, 12)
        if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__len__") or not 1 <= len(lengths) <= 6:
            raise ValueError(f"lengths: expected 1 to 6 sequence lengths, got {lengths!r}")
        lengths = [checks.check_int(f"lengths[{b}]", n, 1, seq_len) for b, n in enumerate(lengths)]
        if len(lengths) * seq_len < 2:
            raise ValueError("lengths, seq_len: BatchNorm needs at least 2 positions in the batch, "
                             f"got {len(lengths)} sequence(s) of {seq_len}")
        if element is None:
            element = (0, min(1, seq_len - 1), min(2, features - 1))
        if isinstance(element, (str, bytes)) or not hasattr(element, "__len__") or len(element) != 3:
            raise ValueError(f"element: expected (sequence, position, feature), got {element!r}")
        b = checks.check_int("element[0]", element[0], 0, len(lengths) - 1)
        t = checks.check_int("element[1]", element[1], 0, seq_len - 1)
        f = checks.check_int("element[2]", element[2], 0, features - 1)
        generator = torch.Generator().manual_seed(checks.check_int("seed", seed, 0, 2**63 - 1))
        x = torch.randn(len(lengths), seq_len, features, generator=generator, dtype=torch.float64)
        x = torch.round(x * 100) / 100  # two decimals, for the table the widget shows
        real = padding_mask(torch.tensor(lengths), max_len=seq_len)[:, 0, 0]  # [B, T], False at padding
        padded = x * real[..., None]
        blocks = {"full": {"x": rounded(x, 2), **norm_statistics(x)},
                  "padded": {"x": rounded(padded, 2), **norm_statistics(padded, real)}}
        super().__init__(lengths=lengths, padding=checks.check_flag("padding", padding), blocks=blocks,
                         batch=b, position=t, feature=f, **kwargs)

    def shared(self, norm):
        """The ``(sequence, position, feature)`` elements whose statistics the picked one shares.

        >>> w = NormStatistics(lengths=(2, 1), seq_len=2, features=2, element=(0, 0, 1))
        >>> w.shared("layer"), len(w.shared("batch"))
        ([(0, 0, 0), (0, 0, 1)], 4)
        """
        B, T, F = len(self.lengths), len(self.blocks["full"]["x"][0]), len(self.blocks["full"]["bn_mean"])
        if norm == "layer":
            return [(self.batch, self.position, f) for f in range(F)]
        if norm == "batch":
            return [(b, t, self.feature) for b in range(B) for t in range(T)]
        raise ValueError(f"norm: expected 'layer' or 'batch', got {norm!r}")

    @property
    def payload_bytes(self):
        """Bytes of the JSON data this widget saves into a page (it ships no arrays as bytes)."""
        return len(json.dumps(self.blocks))
