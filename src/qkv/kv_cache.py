"""The KV cache: incremental decoding that keeps the keys and values of the tokens already generated.

A decoder generates one token at a time. Without a cache, step ``t`` reruns the decoder on the whole
prefix ``y_1 .. y_t``: every layer projects all ``t`` positions into queries, keys and values again,
although the keys and values of positions ``1 .. t-1`` are exactly those of the previous step (a
causal decoder's position ``i`` never sees a later one, so nothing earlier changes when a token is
appended). With a cache, step ``t`` feeds only the new token: each layer projects it once, appends its
key and value to the ones stored, and its query attends over all of them. The cross-attention's keys
and values come from the encoder output, which does not change while decoding: they are projected once,
at the first step.

- ``LayerCache``: one decoder layer's stored self-attention keys/values and cross-attention keys/values,
  each ``[B, heads, length, head_dim]``, and the two attention computations that use and extend them.
- ``KVCache``: one ``LayerCache`` per decoder layer, the number of positions cached, and ``reorder``
  (beam search keeps, drops and duplicates hypotheses between steps; their caches must follow).

``qkv.transformer`` uses it: ``DecoderLayer.forward(..., cache=layer_cache)``,
``Decoder.forward(..., cache=kv_cache)``, ``Transformer.decode(new_tokens, memory, cache=kv_cache)``, and
``greedy_decode`` / ``beam_search`` with ``use_cache=True``.
"""

import torch

from qkv import checks
from qkv.attention import MultiHeadAttention, scaled_dot_product_attention


def _split_heads(mha, x):
    """``[B, L, d_model] -> [B, heads, L, head_dim]``, as inside ``MultiHeadAttention``."""
    return x.view(x.size(0), x.size(1), mha.num_heads, mha.head_dim).transpose(1, 2)


def _merge_heads(mha, out):
    """``[B, heads, L, head_dim] -> [B, L, d_model]``: the heads concatenated, before ``out_proj``."""
    return out.transpose(1, 2).reshape(out.size(0), out.size(2), mha.d_model)


def _check_mha(mha):
    if not isinstance(mha, MultiHeadAttention):
        raise TypeError(f"mha: expected a qkv.attention.MultiHeadAttention, got {type(mha).__name__}")


def _check_input(name, x, mha):
    checks.check_float(name, x)
    checks.check_ndim(name, x, 3, "[batch, length, d_model]")
    checks.check_size(name, x, -1, mha.d_model, "d_model")
    checks.check_nonempty(name, x, 1)
    checks.check_module_dtype(name, x, mha.q_proj.weight.dtype)


class LayerCache:
    """The keys and values one decoder layer has computed so far.

    ``keys`` / ``values``: the self-attention's, ``[B, heads, length, head_dim]``, one row per position
    already decoded (``None`` before the first step). ``memory_keys`` / ``memory_values``: the
    cross-attention's, ``[B, heads, S, head_dim]``, projected from the encoder output once.

    >>> mha = MultiHeadAttention(d_model=8, num_heads=2).eval()
    >>> cache = LayerCache()
    >>> x = torch.randn(1, 3, 8)
    >>> steps = [cache.self_attention(mha, x[:, t:t + 1])[0] for t in range(3)]  # one token at a time
    >>> cache.keys.shape
    torch.Size([1, 2, 3, 4])
    >>> full, _ = mha(x, x, x, torch.ones(3, 3, dtype=torch.bool).tril())  # the causal computation
    >>> torch.allclose(torch.cat(steps, dim=1), full, atol=1e-6)
    True
    """

    def __init__(self):
        self.keys = None  # [B, heads, length, head_dim]
        self.values = None
        self.memory_keys = None  # [B, heads, S, head_dim]
        self.memory_values = None

    @property
    def length(self):
        """Number of positions whose self-attention keys and values are stored (0 before the first step)."""
        return 0 if self.keys is None else self.keys.size(2)

    def self_attention(self, mha, x, mask=None):
        """Attend from the new positions ``x [B, T, d_model]`` over the cached ones and themselves.

        Projects only the ``T`` new positions, appends their keys and values, and lets each new query
        see every stored position and the new positions up to its own (the causal rule, shifted by the
        number already cached). ``mask`` (optional, True = may attend) is combined with that rule and
        must broadcast to ``[B, heads, T, length + T]``.

        Returns ``(output [B, T, d_model], weights [B, heads, T, length + T])``.

        >>> mha = MultiHeadAttention(d_model=4, num_heads=1).eval()
        >>> out, w = LayerCache().self_attention(mha, torch.randn(2, 3, 4))  # a first chunk of 3
        >>> out.shape, bool((w[0, 0].triu(1) == 0).all())  # causal within the chunk
        (torch.Size([2, 3, 4]), True)
        """
        _check_mha(mha)
        _check_input("x", x, mha)
        if self.keys is not None:
            checks.check_size("x", x, 0, self.keys.size(0), "the batch size of the cache")
            checks.check_module_dtype("x", x, self.keys.dtype)
        past, new = self.length, x.size(1)
        checks.check_mask("mask", mask, (x.size(0), mha.num_heads, new, past + new))
        q = _split_heads(mha, mha.q_proj(x))  # [B, h, T, hd]: only the new positions are projected
        k = _split_heads(mha, mha.k_proj(x))
        v = _split_heads(mha, mha.v_proj(x))
        self.keys = k if self.keys is None else torch.cat([self.keys, k], dim=2)  # [B, h, past + T, hd]
        self.values = v if self.values is None else torch.cat([self.values, v], dim=2)
        # New query i stands at position past + i: it may see keys 0 .. past + i.
        allowed = torch.ones(new, past + new, dtype=torch.bool, device=x.device).tril(diagonal=past)
        if mask is not None:
            allowed = allowed & mask
        dropout_p = mha.dropout if mha.training else 0.0
        out, weights = scaled_dot_product_attention(q, self.keys, self.values, allowed, dropout_p=dropout_p)
        return mha.out_proj(_merge_heads(mha, out)), weights

    def cross_attention(self, mha, x, memory, mask=None):
        """Attend from ``x [B, T, d_model]`` over the encoder output ``memory [B, S, d_model]``.

        The memory's keys and values are projected at the first call and reused afterwards (the memory
        passed later is not read again: it is the same encoder output). ``mask`` broadcasts to
        ``[B, heads, T, S]`` (a source padding mask ``[B, 1, 1, S]``).

        Returns ``(output [B, T, d_model], weights [B, heads, T, S])``.

        >>> mha = MultiHeadAttention(d_model=4, num_heads=2).eval()
        >>> cache, memory = LayerCache(), torch.randn(1, 5, 4)
        >>> out, w = cache.cross_attention(mha, torch.randn(1, 1, 4), memory)
        >>> cache.memory_keys.shape, w.shape
        (torch.Size([1, 2, 5, 2]), torch.Size([1, 2, 1, 5]))
        """
        _check_mha(mha)
        _check_input("x", x, mha)
        _check_input("memory", memory, mha)
        checks.check_size("memory", memory, 0, x.size(0), "the batch size of x")
        if self.memory_keys is None:
            self.memory_keys = _split_heads(mha, mha.k_proj(memory))  # [B, h, S, hd], once per sentence
            self.memory_values = _split_heads(mha, mha.v_proj(memory))
        checks.check_size("x", x, 0, self.memory_keys.size(0), "the batch size of the cache")
        checks.check_mask("mask", mask, (x.size(0), mha.num_heads, x.size(1), self.memory_keys.size(2)))
        q = _split_heads(mha, mha.q_proj(x))
        dropout_p = mha.dropout if mha.training else 0.0
        out, weights = scaled_dot_product_attention(q, self.memory_keys, self.memory_values, mask,
                                                    dropout_p=dropout_p)
        return mha.out_proj(_merge_heads(mha, out)), weights

    def reorder(self, index):
        """Keep the batch rows ``index`` (a 1-D integer tensor; rows may repeat or be dropped).

        >>> cache = LayerCache()
        >>> cache.keys = cache.values = torch.arange(3.0).view(3, 1, 1, 1)
        >>> cache.reorder(torch.tensor([2, 2, 0]))
        >>> cache.keys.flatten().tolist()
        [2.0, 2.0, 0.0]
        """
        checks.check_integer("index", index)
        checks.check_ndim("index", index, 1, "[new batch]")
        rows = next((t.size(0) for t in (self.keys, self.memory_keys) if t is not None), None)
        if rows is not None and index.numel() and not 0 <= int(index.min()) <= int(index.max()) < rows:
            raise ValueError(f"index: expected rows in [0, {rows}), got {int(index.min())} to {int(index.max())}")
        for name in ("keys", "values", "memory_keys", "memory_values"):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.index_select(0, index.to(t.device)))


class KVCache:
    """One ``LayerCache`` per decoder layer: what incremental decoding keeps between steps.

    Args:
        num_layers: the number of decoder layers (``len(model.decoder.layers)``).

    ``length`` is the number of target positions already decoded; the next token fed to
    ``Transformer.decode(tokens, memory, cache=cache)`` stands at that position.

    >>> from qkv.transformer import Transformer
    >>> model = Transformer(7, 7, d_model=8, num_heads=2, num_layers=2, d_ff=16, dropout=0.0).eval()
    >>> src, tgt = torch.tensor([[1, 2, 3]]), torch.tensor([[0, 4, 5]])
    >>> memory = model.encode(src)
    >>> cache = KVCache(num_layers=2)
    >>> steps = [model.decode(tgt[:, t:t + 1], memory, cache=cache) for t in range(3)]
    >>> cache.length
    3
    >>> torch.allclose(torch.cat(steps, dim=1), model.decode(tgt, memory), atol=1e-5)
    True
    """

    def __init__(self, num_layers):
        checks.check_positive_int("num_layers", num_layers)
        self.layers = [LayerCache() for _ in range(num_layers)]

    @property
    def length(self):
        """Number of positions cached (the same in every layer)."""
        return self.layers[0].length

    def reorder(self, index):
        """Keep the batch rows ``index`` in every layer (beam search: each survivor's parent).

        >>> cache = KVCache(2)
        >>> for layer in cache.layers:
        ...     layer.keys = layer.values = torch.zeros(3, 1, 4, 2)
        >>> cache.reorder(torch.tensor([0, 0]))
        >>> cache.layers[1].keys.shape, cache.length
        (torch.Size([2, 1, 4, 2]), 4)
        """
        for layer in self.layers:
            layer.reorder(index)


def kv_cache_bytes(num_layers, num_kv_heads, head_dim, length, bytes_per_element=2, batch=1):
    """Bytes a decoder's self-attention KV cache holds: ``batch * layers * 2 * kv_heads * head_dim * length * bytes``.

    Each of ``num_layers`` layers stores, for every one of ``length`` positions, a key and a value
    (the 2) per key/value head, each ``head_dim`` numbers of ``bytes_per_element`` bytes (2 for float16 or
    bfloat16, the usual serving dtypes; 4 for float32). With multi-head attention ``num_kv_heads`` is the
    number of heads; grouped-query and multi-query attention shrink it (see
    :class:`qkv.attention.GroupedQueryAttention`).

    >>> kv_cache_bytes(num_layers=32, num_kv_heads=32, head_dim=128, length=4096) / 2**30   # GiB
    2.0
    >>> cache = KVCache(1)
    >>> cache.layers[0].self_attention(MultiHeadAttention(8, 2), torch.randn(3, 5, 8))[0].shape
    torch.Size([3, 5, 8])
    >>> stored = cache.layers[0].keys.nbytes + cache.layers[0].values.nbytes      # float32: 4 bytes
    >>> stored == kv_cache_bytes(1, 2, 4, 5, bytes_per_element=4, batch=3)
    True
    """
    for name, value in (("num_layers", num_layers), ("num_kv_heads", num_kv_heads), ("head_dim", head_dim),
                        ("length", length), ("bytes_per_element", bytes_per_element), ("batch", batch)):
        checks.check_positive_int(name, value)
    return batch * num_layers * 2 * num_kv_heads * head_dim * length * bytes_per_element
