"""Widget 1: softmax saturation. Pick d_k, scaling and the number of keys; watch the softmax saturate.

The random ``q`` and keys come from :func:`qkv.saturation.sample_query_keys` and go to the browser once;
the front end (``softmax.js``) computes the scores, the softmax and the readouts for every setting,
with the formulas of :mod:`qkv.saturation` and :mod:`qkv.softmax`, so the page responds without a kernel.
"""

from __future__ import annotations

import traitlets

from qkv import checks
from qkv.saturation import MAX_KEYS, QUANTUM, Saturation, sample_query_keys, saturation
from qkv.widgets._common import QKVWidget, front_end, int16_bytes

# Log-spaced choices from 1 to 1024 (ratios 2 and 1.5 alternate), with 64 (the paper's head size) in.
D_K_CHOICES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


class SoftmaxSaturation(QKVWidget):
    """The softmax of ``q . k_j / sqrt(d_k)`` (or unscaled) over ``num_keys`` random keys.

    Args:
        d_k: one of ``D_K_CHOICES`` (1 to 1024). scaled: divide the scores by ``sqrt(d_k)``.
        num_keys: 1 to ``max_keys``. seed: which random ``q`` and keys. max_keys: the most keys the
            reader can pick (at most 64; each key adds 2 KB to the saved page).

    The readouts shown (largest probability, entropy, largest |Jacobian entry|) equal
    ``self.stats()``, which is :func:`qkv.saturation.saturation` for the current setting.

    >>> w = SoftmaxSaturation(d_k=1024, scaled=False, num_keys=8)
    >>> round(w.stats().max_prob, 6)
    1.0
    >>> w.scaled = True
    >>> w.stats().max_prob < 0.5
    True
    """

    _esm = front_end("softmax")

    d_k_choices = traitlets.List(traitlets.Int(), default_value=list(D_K_CHOICES)).tag(sync=True)
    d_k = traitlets.Int(64).tag(sync=True)
    scaled = traitlets.Bool(True).tag(sync=True)
    num_keys = traitlets.Int(16).tag(sync=True)
    max_keys = traitlets.Int(32).tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    quantum = traitlets.Int(round(1 / QUANTUM)).tag(sync=True)  # value = int16 / quantum
    q = traitlets.Bytes().tag(sync=True)  # [MAX_D_K] int16
    k = traitlets.Bytes().tag(sync=True)  # [max_keys, MAX_D_K] int16, row-major

    def __init__(self, d_k=64, scaled=True, num_keys=16, seed=0, max_keys=32, **kwargs):
        max_keys = checks.check_int("max_keys", max_keys, 1, MAX_KEYS)
        checks.check_int("seed", seed, -(2**63), 2**63 - 1)
        if d_k not in D_K_CHOICES or isinstance(d_k, bool):
            raise ValueError(f"d_k: expected one of {D_K_CHOICES}, got {d_k!r}")
        checks.check_int("num_keys", num_keys, 1, max_keys)
        q, k = sample_query_keys(seed)
        super().__init__(
            d_k=d_k, scaled=checks.check_flag("scaled", scaled), num_keys=num_keys, seed=seed, max_keys=max_keys,
            q=int16_bytes(q, 1 / QUANTUM, "q"), k=int16_bytes(k[:max_keys], 1 / QUANTUM, "k"), **kwargs,
        )

    @traitlets.validate("d_k")
    def _valid_d_k(self, proposal):
        if proposal["value"] not in self.d_k_choices:
            raise traitlets.TraitError(f"d_k: expected one of {tuple(self.d_k_choices)}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("num_keys")
    def _valid_num_keys(self, proposal):
        if not 1 <= proposal["value"] <= self.max_keys:
            raise traitlets.TraitError(f"num_keys: expected 1 to {self.max_keys}, got {proposal['value']}")
        return proposal["value"]

    def stats(self) -> Saturation:
        """:func:`qkv.saturation.saturation` for the current setting: what the readouts show."""
        return saturation(self.d_k, self.num_keys, self.scaled, self.seed)
