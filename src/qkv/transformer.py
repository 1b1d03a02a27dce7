"""The Transformer of "Attention Is All You Need" (Vaswani et al. 2017), one block at a time.

Read top to bottom: the position-wise feed-forward network, token embeddings, the encoder and decoder
layers, their stacks, the full encoder-decoder model, the learning-rate schedule, and decoding.

Every tensor is batch first: tokens ``[batch, length]``, activations ``[batch, length, d_model]``.
Masks are boolean with ``True`` = may attend (see ``qkv.masks``).

Each layer has a ``norm_first`` switch. ``False`` (the paper, and the default) is *post-norm*:
``x = norm(x + sublayer(x))``. ``True`` is *pre-norm*: ``x = x + sublayer(norm(x))``, which keeps an
un-normalised residual path from input to output and trains more stably without warm-up
(Xiong et al. 2020); a pre-norm stack then needs a final LayerNorm.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from qkv import checks
from qkv.attention import MultiHeadAttention
from qkv.kv_cache import KVCache, LayerCache
from qkv.masks import causal_mask, combine_masks
from qkv.norms import LayerNorm, RMSNorm
from qkv.positional import SinusoidalPositionalEncoding


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = linear2(activation(linear1(x))), applied to each position separately (section 3.3).

    Args:
        d_model: input and output size. d_ff: hidden size (2048 in the paper, 4 * d_model).
        dropout: dropout after the activation. activation: ``"relu"`` (the paper) or ``"gelu"``
            (the exact, erf-based GELU that BERT uses).

    Shapes: ``forward(x [..., d_model]) -> [..., d_model]``.

    >>> ff = PositionwiseFeedForward(d_model=4, d_ff=16, activation="gelu")
    >>> ff(torch.randn(2, 3, 4)).shape
    torch.Size([2, 3, 4])
    """

    def __init__(self, d_model, d_ff, dropout=0.1, activation="relu", bias=True):
        super().__init__()
        checks.check_positive_int("d_model", d_model)
        checks.check_positive_int("d_ff", d_ff)
        checks.check_probability("dropout", dropout)
        checks.check_choice("activation", activation, ("relu", "gelu"))
        checks.check_flag("bias", bias)
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        checks.check_float("x", x)
        checks.check_size("x", x, -1, self.linear1.in_features, "d_model")
        checks.check_module_dtype("x", x, self.linear1.weight.dtype)
        h = self.linear1(x)
        h = F.relu(h) if self.activation == "relu" else F.gelu(h)  # F.gelu is the exact erf form
        return self.linear2(self.dropout(h))


class TokenEmbedding(nn.Module):
    """Token ids to vectors, multiplied by sqrt(d_model) as in section 3.4 of the paper.

    The embedding matrix can be shared with the output layer, which wants small weights (Xavier
    initialisation gives entries of about ``1 / sqrt(d_model)``); multiplying by ``sqrt(d_model)`` brings
    the embeddings back to about unit size, comparable with the positional encodings added next.

    Shapes: ``forward(tokens [B, T] integer) -> [B, T, d_model]``.

    >>> emb = TokenEmbedding(vocab_size=10, d_model=4)
    >>> torch.allclose(emb(torch.tensor([[3]]))[0, 0], emb.embedding.weight[3] * 2)
    True
    """

    def __init__(self, vocab_size, d_model):
        super().__init__()
        checks.check_positive_int("vocab_size", vocab_size)
        checks.check_positive_int("d_model", d_model)
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model)

    def forward(self, tokens):
        checks.check_token_ids("tokens", tokens, self.embedding.num_embeddings)
        return self.embedding(tokens) * math.sqrt(self.d_model)


def _check_activations(name, x, d_model):
    checks.check_float(name, x)
    checks.check_ndim(name, x, 3, "[batch, length, d_model]")
    checks.check_size(name, x, -1, d_model, "d_model")
    checks.check_nonempty(name, x, 1)


def _check_layer_args(norm_first, layer_norm_eps, bias, norm="layer"):
    checks.check_flag("norm_first", norm_first)
    checks.check_number("layer_norm_eps", layer_norm_eps, low=0.0)
    checks.check_flag("bias", bias)
    checks.check_choice("norm", norm, NORMS)


NORMS = ("layer", "rms")  # the kinds of normalisation an encoder layer can use


def _make_norm(norm, d_model, eps, bias):
    """A ``LayerNorm`` (``norm="layer"``) or an ``RMSNorm`` (``"rms"``: no mean, no bias) over ``d_model``."""
    if norm == "rms":
        return RMSNorm(d_model, eps=eps)
    return LayerNorm(d_model, eps=eps, bias=bias)


def _scores_shape(layer, x, keys):
    """The shape ``[B, heads, Lq, Lk]`` of the attention scores that a mask must broadcast to."""
    return (x.size(0), layer.self_attn.num_heads, x.size(1), keys.size(1))


class EncoderLayer(nn.Module):
    """Self-attention then a feed-forward network, each wrapped in a residual connection and a LayerNorm.

    Args:
        d_model, num_heads, d_ff: sizes. dropout: on the attention weights, after the feed-forward
            activation, and on each sublayer's output before the residual sum (as PyTorch does).
        activation: ``"relu"`` or ``"gelu"``. norm_first: pre-norm if True, post-norm (the paper) if
            False. layer_norm_eps: the norms' epsilon (BERT uses 1e-12). bias: biases in the linear
            layers and LayerNorms. norm: ``"layer"`` (LayerNorm, the paper) or ``"rms"`` (RMSNorm,
            Zhang and Sennrich 2019, as in Llama: no mean subtraction and no bias).

    Shapes: ``forward(x [B, T, d_model], mask=None) -> (out [B, T, d_model], weights [B, heads, T, T])``;
    ``mask`` broadcasts against ``[B, heads, T, T]``, e.g. a padding mask ``[B, 1, 1, T]``.

    >>> layer = EncoderLayer(d_model=8, num_heads=2, d_ff=16, dropout=0.0)
    >>> out, w = layer(torch.randn(2, 5, 8))
    >>> out.shape, w.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 2, 5, 5]))
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, activation="relu", norm_first=False,
                 layer_norm_eps=1e-5, bias=True, norm="layer"):
        super().__init__()
        _check_layer_args(norm_first, layer_norm_eps, bias, norm)
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, bias=bias)
        self.ff = PositionwiseFeedForward(d_model, d_ff, dropout=dropout, activation=activation, bias=bias)
        self.norm1 = _make_norm(norm, d_model, layer_norm_eps, bias)
        self.norm2 = _make_norm(norm, d_model, layer_norm_eps, bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        _check_activations("x", x, self.self_attn.d_model)
        checks.check_mask("mask", mask, _scores_shape(self, x, x))
        if self.norm_first:  # pre-norm: x + sublayer(norm(x))
            h = self.norm1(x)
            attn, weights = self.self_attn(h, h, h, mask)
            x = x + self.dropout1(attn)
            x = x + self.dropout2(self.ff(self.norm2(x)))
        else:  # post-norm, as in the paper: norm(x + sublayer(x))
            attn, weights = self.self_attn(x, x, x, mask)
            x = self.norm1(x + self.dropout1(attn))
            x = self.norm2(x + self.dropout2(self.ff(x)))
        return x, weights

    @classmethod
    def from_torch(cls, layer):
        """Copy a ``torch.nn.TransformerEncoderLayer`` (any ``batch_first``) into an ``EncoderLayer``.

        >>> ref = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        >>> ours = EncoderLayer.from_torch(ref)
        >>> torch.equal(ours.ff.linear1.weight, ref.linear1.weight)
        True
        """
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"layer: expected a torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
        return _copy_from_torch(cls(**_torch_layer_kwargs(layer)), layer)


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder output, then a feed-forward network.

    Same arguments as ``EncoderLayer``. The self-attention mask (``tgt_mask``) must stop each position
    from seeing later ones, e.g. ``causal_mask(T)``: that is what lets the decoder be trained on a whole
    target sentence at once.

    Shapes: ``forward(x [B, T, d_model], memory [B, S, d_model], tgt_mask=None, memory_mask=None)``
    returns ``(out [B, T, d_model], self_weights [B, heads, T, T], cross_weights [B, heads, T, S])``.

    Incremental decoding: with ``cache=`` a ``qkv.kv_cache.LayerCache``, ``x`` holds only the *new*
    positions; the layer attends over the cached keys and values plus the new ones, and stores them.
    The causal rule is then applied by the cache (no ``tgt_mask`` needed); a ``tgt_mask`` given must
    broadcast to ``[B, heads, T, cache.length + T]``, and ``self_weights`` has that shape.

    >>> layer = DecoderLayer(d_model=8, num_heads=2, d_ff=16, dropout=0.0)
    >>> out, sw, cw = layer(torch.randn(2, 3, 8), torch.randn(2, 5, 8), tgt_mask=causal_mask(3))
    >>> out.shape, sw.shape, cw.shape
    (torch.Size([2, 3, 8]), torch.Size([2, 2, 3, 3]), torch.Size([2, 2, 3, 5]))
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, activation="relu", norm_first=False,
                 layer_norm_eps=1e-5, bias=True):
        super().__init__()
        _check_layer_args(norm_first, layer_norm_eps, bias)
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, bias=bias)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, bias=bias)
        self.ff = PositionwiseFeedForward(d_model, d_ff, dropout=dropout, activation=activation, bias=bias)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, cache=None):
        _check_activations("x", x, self.self_attn.d_model)
        _check_activations("memory", memory, self.self_attn.d_model)
        checks.check_size("memory", memory, 0, x.size(0), "the batch size of x")
        if cache is not None and not isinstance(cache, LayerCache):
            raise TypeError(f"cache: expected a qkv.kv_cache.LayerCache, got {type(cache).__name__}")
        past = 0 if cache is None else cache.length
        checks.check_mask("tgt_mask", tgt_mask, (x.size(0), self.self_attn.num_heads, x.size(1), past + x.size(1)))
        checks.check_mask("memory_mask", memory_mask, _scores_shape(self, x, memory))

        def self_attention(h):  # [B, T, d] -> ([B, T, d], weights)
            if cache is None:
                return self.self_attn(h, h, h, tgt_mask)
            return cache.self_attention(self.self_attn, h, tgt_mask)  # only the new positions projected

        def cross_attention(h):
            if cache is None:
                return self.cross_attn(h, memory, memory, memory_mask)
            return cache.cross_attention(self.cross_attn, h, memory, memory_mask)  # memory projected once

        if self.norm_first:  # pre-norm: x + sublayer(norm(x))
            attn, self_weights = self_attention(self.norm1(x))
            x = x + self.dropout1(attn)
            # the memory is not normalised here: the encoder's final norm did that
            attn, cross_weights = cross_attention(self.norm2(x))
            x = x + self.dropout2(attn)
            x = x + self.dropout3(self.ff(self.norm3(x)))
        else:  # post-norm, as in the paper: norm(x + sublayer(x))
            attn, self_weights = self_attention(x)
            x = self.norm1(x + self.dropout1(attn))
            attn, cross_weights = cross_attention(x)
            x = self.norm2(x + self.dropout2(attn))
            x = self.norm3(x + self.dropout3(self.ff(x)))
        return x, self_weights, cross_weights

    @classmethod
    def from_torch(cls, layer):
        """Copy a ``torch.nn.TransformerDecoderLayer`` (any ``batch_first``) into a ``DecoderLayer``.

        >>> ref = torch.nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)
        >>> ours = DecoderLayer.from_torch(ref)
        >>> torch.equal(ours.cross_attn.out_proj.weight, ref.multihead_attn.out_proj.weight)
        True
        """
        if not isinstance(layer, nn.TransformerDecoderLayer):
            raise TypeError(f"layer: expected a torch.nn.TransformerDecoderLayer, got {type(layer).__name__}")
        return _copy_from_torch(cls(**_torch_layer_kwargs(layer)), layer)


def _torch_layer_kwargs(layer):
    """The constructor arguments of a torch Transformer{Encoder,Decoder}Layer."""
    act = layer.activation
    if act is F.relu or isinstance(act, nn.ReLU):
        activation = "relu"
    elif act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        activation = "gelu"
    else:
        raise ValueError(f"layer: expected activation relu or (exact) gelu, got {act}")
    return dict(d_model=layer.self_attn.embed_dim, num_heads=layer.self_attn.num_heads,
                d_ff=layer.linear1.out_features, dropout=layer.dropout.p, activation=activation,
                norm_first=layer.norm_first, layer_norm_eps=layer.norm1.eps, bias=layer.linear1.bias is not None)


def _copy_from_torch(ours, layer):
    """Copy the weights of a torch layer into ours: the attention modules, linear1/2 and the norms."""
    ours.to(device=layer.linear1.weight.device, dtype=layer.linear1.weight.dtype)
    ours.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
    if hasattr(layer, "multihead_attn"):  # PyTorch's name for the decoder's cross-attention
        ours.cross_attn = MultiHeadAttention.from_torch(layer.multihead_attn)
    ours.ff.linear1.load_state_dict(layer.linear1.state_dict())
    ours.ff.linear2.load_state_dict(layer.linear2.state_dict())
    for name in ("norm1", "norm2", "norm3"):
        if hasattr(layer, name):
            getattr(ours, name).load_state_dict(getattr(layer, name).state_dict())
    return ours.train(layer.training)


class Encoder(nn.Module):
    """A stack of ``num_layers`` encoder layers (plus a final norm when ``norm_first``).

    Takes the ``EncoderLayer`` arguments and ``num_layers`` (6 in the paper); ``norm`` (``"layer"`` or
    ``"rms"``) is the kind of every norm in the stack, the final one included.

    Shapes: ``forward(x [B, S, d_model], mask=None) -> (out [B, S, d_model], [weights [B, heads, S, S]]
    per layer)``.

    >>> enc = Encoder(d_model=8, num_heads=2, d_ff=16, num_layers=3)
    >>> out, weights = enc(torch.randn(2, 5, 8))
    >>> out.shape, len(weights), weights[0].shape
    (torch.Size([2, 5, 8]), 3, torch.Size([2, 2, 5, 5]))
    """

    def __init__(self, d_model, num_heads, d_ff, num_layers=6, dropout=0.1, activation="relu",
                 norm_first=False, layer_norm_eps=1e-5, bias=True, norm="layer"):
        super().__init__()
        checks.check_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, activation, norm_first, layer_norm_eps, bias, norm)
            for _ in range(num_layers)
        )
        # Pre-norm layers add to an un-normalised residual stream, so normalise it once at the end.
        self.norm = _make_norm(norm, d_model, layer_norm_eps, bias) if norm_first else None

    def forward(self, x, mask=None):
        weights = []
        for layer in self.layers:
            x, w = layer(x, mask)
            weights.append(w)
        if self.norm is not None:
            x = self.norm(x)
        return x, weights


class Decoder(nn.Module):
    """A stack of ``num_layers`` decoder layers (plus a final LayerNorm when ``norm_first``).

    Shapes: ``forward(x [B, T, d_model], memory [B, S, d_model], tgt_mask=None, memory_mask=None)``
    returns ``(out [B, T, d_model], self_weights, cross_weights)``, lists with one
    ``[B, heads, T, T]`` and one ``[B, heads, T, S]`` tensor per layer. With ``cache=`` a
    ``qkv.kv_cache.KVCache`` (one ``LayerCache`` per layer), ``x`` holds only the new positions (see
    ``DecoderLayer``).

    >>> dec = Decoder(d_model=8, num_heads=2, d_ff=16, num_layers=2)
    >>> out, sw, cw = dec(torch.randn(1, 3, 8), torch.randn(1, 4, 8), tgt_mask=causal_mask(3))
    >>> out.shape, len(sw), cw[1].shape
    (torch.Size([1, 3, 8]), 2, torch.Size([1, 2, 3, 4]))
    """

    def __init__(self, d_model, num_heads, d_ff, num_layers=6, dropout=0.1, activation="relu",
                 norm_first=False, layer_norm_eps=1e-5, bias=True):
        super().__init__()
        checks.check_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout, activation, norm_first, layer_norm_eps, bias)
            for _ in range(num_layers)
        )
        self.norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias) if norm_first else None

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, cache=None):
        if cache is not None:
            if not isinstance(cache, KVCache):
                raise TypeError(f"cache: expected a qkv.kv_cache.KVCache, got {type(cache).__name__}")
            if len(cache.layers) != len(self.layers):
                raise ValueError(f"cache: expected {len(self.layers)} layers (one per decoder layer), "
                                 f"got {len(cache.layers)}")
        self_weights, cross_weights = [], []
        for i, layer in enumerate(self.layers):
            x, sw, cw = layer(x, memory, tgt_mask, memory_mask, None if cache is None else cache.layers[i])
            self_weights.append(sw)
            cross_weights.append(cw)
        if self.norm is not None:
            x = self.norm(x)
        return x, self_weights, cross_weights


class Transformer(nn.Module):
    """The encoder-decoder Transformer: embeddings, sinusoidal positions, encoder, decoder, output layer.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes. d_model, num_heads, num_layers, d_ff, dropout: as in
            the paper's base model (512, 8, 6, 2048, 0.1). max_len: longest sequence the positional
            table covers. norm_first: pre-norm layers. activation: ``"relu"`` or ``"gelu"``.
        tie_weights: share one ``[tgt_vocab, d_model]`` matrix between the target embedding and the
            output projection (section 3.4). When ``src_vocab == tgt_vocab`` the source embedding
            shares it too, as in the paper, which used one shared BPE vocabulary for both languages:
            sizes that match are taken to mean the vocabulary is shared.

    Matrices are initialised with Xavier-uniform, as in the reference implementation (tensor2tensor).

    Shapes: ``forward(src [B, S], tgt [B, T], src_mask=None, tgt_mask=None) -> logits [B, T, tgt_vocab]``.
    ``src_mask`` (e.g. ``padding_mask``, ``[B, 1, 1, S]``) is used by the encoder and by the
    cross-attention. The causal mask is *always* applied in the decoder; ``tgt_mask`` (e.g. target
    padding) is combined with it.

    >>> model = Transformer(11, 13, d_model=8, num_heads=2, num_layers=1, d_ff=16, dropout=0.0)
    >>> model(torch.randint(11, (2, 5)), torch.randint(13, (2, 4))).shape
    torch.Size([2, 4, 13])
    """

    def __init__(self, src_vocab, tgt_vocab, d_model=512, num_heads=8, num_layers=6, d_ff=2048, dropout=0.1,
                 max_len=5000, norm_first=False, tie_weights=False, activation="relu", layer_norm_eps=1e-5):
        super().__init__()
        checks.check_flag("tie_weights", tie_weights)
        layer_args = dict(d_model=d_model, num_heads=num_heads, d_ff=d_ff, num_layers=num_layers, dropout=dropout,
                          activation=activation, norm_first=norm_first, layer_norm_eps=layer_norm_eps)
        self.src_embed = TokenEmbedding(src_vocab, d_model)
        self.tgt_embed = TokenEmbedding(tgt_vocab, d_model)
        self.positional = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        self.encoder = Encoder(**layer_args)
        self.decoder = Decoder(**layer_args)
        self.output_proj = nn.Linear(d_model, tgt_vocab)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.tie_weights = tie_weights
        if tie_weights:
            # One Parameter object in several places: gradients from every use add up in it.
            self.output_proj.weight = self.tgt_embed.embedding.weight
            if src_vocab == tgt_vocab:
                self.src_embed.embedding.weight = self.tgt_embed.embedding.weight

    def encode(self, src, src_mask=None):
        """Source tokens ``[B, S]`` -> memory ``[B, S, d_model]``."""
        self._check_tokens("src", src)
        checks.check_mask("src_mask", src_mask, (src.size(0), self.encoder.layers[0].self_attn.num_heads,
                                                 src.size(1), src.size(1)))
        memory, _ = self.encoder(self.positional(self.src_embed(src)), src_mask)
        return memory

    def decode(self, tgt, memory, src_mask=None, tgt_mask=None, cache=None):
        """Target tokens ``[B, T]`` and memory ``[B, S, d_model]`` -> logits ``[B, T, tgt_vocab]``.

        Position ``t`` of the output predicts token ``t + 1``; it sees only ``tgt[:, :t + 1]``.

        With ``cache=`` a ``qkv.kv_cache.KVCache(len(model.decoder.layers))``, ``tgt`` holds only the
        *new* tokens, standing at positions ``cache.length, cache.length + 1, ...``: the earlier ones
        are read from the cache, which is extended. The logits are those of the full computation at
        those positions (to rounding). ``tgt_mask`` then broadcasts to ``[B, heads, T, cache.length + T]``.
        """
        self._check_tokens("tgt", tgt)
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache: expected a qkv.kv_cache.KVCache, got {type(cache).__name__}")
        past = 0 if cache is None else cache.length
        heads = self.decoder.layers[0].self_attn.num_heads
        checks.check_float("memory", memory)
        checks.check_ndim("memory", memory, 3, "[batch, length, d_model]")
        checks.check_mask("tgt_mask", tgt_mask, (tgt.size(0), heads, tgt.size(1), past + tgt.size(1)))
        checks.check_mask("src_mask", src_mask, (tgt.size(0), heads, tgt.size(1), memory.size(1)))
        if cache is None:
            mask = combine_masks(causal_mask(tgt.size(1), device=tgt.device), tgt_mask)
        else:
            mask = tgt_mask  # the cache applies the causal rule, shifted by the positions it holds
        x = self.positional(self.tgt_embed(tgt), start=past)  # new tokens stand at positions past, past + 1, ...
        x, _, _ = self.decoder(x, memory, mask, src_mask, cache)
        return self.output_proj(x)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None):
        self._check_tokens("src", src)
        self._check_tokens("tgt", tgt)
        checks.check_size("tgt", tgt, 0, src.size(0), "the batch size of src")
        return self.decode(tgt, self.encode(src, src_mask), src_mask, tgt_mask)

    def _check_tokens(self, name, tokens):
        checks.check_integer(name, tokens)
        checks.check_ndim(name, tokens, 2, "[batch, length]")
        checks.check_nonempty(name, tokens, 1)
        checks.check_max_length(name, tokens, self.positional.max_len)


def noam_lr(step, d_model, warmup=4000, factor=1.0):
    """The learning rate of the paper (section 5.3), called "Noam" after Noam Shazeer.

    ``lrate = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)``: it grows linearly for
    ``warmup`` steps, peaks at ``step == warmup`` at ``factor * (d_model * warmup)^-0.5``, then decays
    as ``1 / sqrt(step)``. Steps count from 1.

    >>> round(noam_lr(4000, d_model=512, warmup=4000), 6)
    0.000699
    """
    checks.check_positive_int("step", step)
    checks.check_positive_int("d_model", d_model)
    checks.check_positive_int("warmup", warmup)
    checks.check_number("factor", factor, low=0.0, low_open=True)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def noam_scheduler(optimizer, d_model, warmup=4000, factor=1.0):
    """A ``LambdaLR`` that follows ``noam_lr``. Give the optimizer ``lr=1.0``: LambdaLR multiplies it.

    LambdaLR counts from 0, so its step ``s`` uses ``noam_lr(s + 1)`` (step 0 would give a rate of 0).

    >>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    >>> sched = noam_scheduler(opt, d_model=512, warmup=4000)
    >>> opt.param_groups[0]["lr"] == noam_lr(1, 512, 4000)
    True
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    noam_lr(1, d_model, warmup, factor)  # checks d_model, warmup and factor now, not at the first step
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: noam_lr(s + 1, d_model, warmup, factor))


def _check_decoding(model, max_len, bos_id, eos_id):
    if not isinstance(model, Transformer):
        raise TypeError(f"model: expected a qkv.transformer.Transformer, got {type(model).__name__}")
    checks.check_positive_int("max_len", max_len)
    vocab = model.tgt_embed.embedding.num_embeddings
    checks.check_int("bos_id", bos_id, low=0, high=vocab - 1)
    checks.check_int("eos_id", eos_id, low=0, high=vocab - 1)


@torch.no_grad()
def greedy_decode(model, src, max_len, bos_id, eos_id, src_mask=None, use_cache=False):
    """Generate by always taking the most probable next token. Call ``model.eval()`` first.

    The source is encoded once. Without a cache (the default) the decoder reruns on the whole prefix at
    every step; with ``use_cache=True`` it feeds only the newest token and keeps every layer's keys and
    values in a ``qkv.kv_cache.KVCache`` (same tokens, logits equal to rounding, less work per step).

    Args:
        model: a ``Transformer``. src: ``[B, S]`` token ids. max_len: most tokens in the output,
            counting ``bos_id``. src_mask: optional ``[B, 1, 1, S]`` padding mask.
            use_cache: decode incrementally with a KV cache.

    Returns:
        ``[B, T]`` token ids, ``T <= max_len``, starting with ``bos_id``. Generation stops when every
        sequence has produced ``eos_id``; a sequence that finished early is padded with ``eos_id``.

    >>> model = Transformer(5, 5, d_model=8, num_heads=2, num_layers=1, d_ff=16, dropout=0.0).eval()
    >>> out = greedy_decode(model, torch.tensor([[1, 2, 3]]), max_len=6, bos_id=0, eos_id=4)
    >>> out.shape[0], int(out[0, 0]), out.shape[1] <= 6
    (1, 0, True)
    """
    _check_decoding(model, max_len, bos_id, eos_id)
    checks.check_flag("use_cache", use_cache)
    memory = model.encode(src, src_mask)
    ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
    finished = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    cache = KVCache(len(model.decoder.layers)) if use_cache else None
    for _ in range(max_len - 1):
        new = ys if cache is None else ys[:, -1:]  # with a cache, only the token not yet seen
        logits = model.decode(new, memory, src_mask, cache=cache)[:, -1]  # [B, vocab]: the last predicts next
        next_token = logits.argmax(dim=-1).masked_fill(finished, eos_id)
        ys = torch.cat([ys, next_token[:, None]], dim=1)
        finished |= next_token == eos_id
        if finished.all():
            break
    return ys


@torch.no_grad()
def beam_search(model, src, beam_size, max_len, bos_id, eos_id, length_penalty=0.0, src_mask=None,
                use_cache=False):
    """Keep the ``beam_size`` most probable prefixes at each step instead of one. Batch size 1.

    Each step extends every alive prefix by every token and keeps the best ``beam_size - finished``
    of all the extensions (by total log-probability). An extension ending in ``eos_id`` is finished and
    takes up one of the ``beam_size`` slots for good; the search stops when all slots are finished or
    the prefixes reach ``max_len`` tokens. Among the finished hypotheses and those still alive at
    ``max_len``, the winner maximises ``log P / ((5 + n) / 6) ** length_penalty`` with ``n`` generated
    tokens (Wu et al. 2016; the paper used 0.6). With ``length_penalty=0`` that is plain ``log P``,
    which favours short outputs. ``beam_size=1`` is greedy decoding.

    Args:
        model: a ``Transformer`` (call ``model.eval()`` first). src: ``[1, S]`` token ids.
        beam_size: number of hypotheses kept. max_len: most tokens in the output, counting ``bos_id``.
        use_cache: decode incrementally with a ``qkv.kv_cache.KVCache``; after each step the cache's
            rows are reordered to follow the surviving prefixes (a prefix's cache is its parent's).

    Returns:
        ``(tokens [1, T], log_prob)``: the best sequence, starting with ``bos_id``, and its total
        log-probability (a float, without the length penalty).

    >>> model = Transformer(5, 5, d_model=8, num_heads=2, num_layers=1, d_ff=16, dropout=0.0).eval()
    >>> tokens, log_prob = beam_search(model, torch.tensor([[1, 2, 3]]), beam_size=3, max_len=6, bos_id=0, eos_id=4)
    >>> int(tokens[0, 0]), log_prob < 0
    (0, True)
    """
    checks.check_positive_int("beam_size", beam_size)
    _check_decoding(model, max_len, bos_id, eos_id)
    checks.check_number("length_penalty", length_penalty)
    checks.check_flag("use_cache", use_cache)
    checks.check_integer("src", src)
    checks.check_ndim("src", src, 2, "[batch, length]")
    checks.check_size("src", src, 0, 1, "beam search decodes one sentence")
    memory = model.encode(src, src_mask)  # [1, S, d_model]
    beams = torch.full((1, 1), bos_id, dtype=torch.long, device=src.device)  # alive prefixes [k, t]
    scores = torch.zeros(1, dtype=memory.dtype, device=src.device)  # their total log-probabilities [k]
    finished = []  # (tokens [t], log-probability) of hypotheses that produced eos_id
    cache = KVCache(len(model.decoder.layers)) if use_cache else None
    for _ in range(max_len - 1):
        k = beams.size(0)
        new = beams if cache is None else beams[:, -1:]  # with a cache, only the token not yet seen
        logits = model.decode(new, memory.expand(k, -1, -1), src_mask, cache=cache)[:, -1]  # [k, vocab]
        candidates = scores[:, None] + torch.log_softmax(logits, dim=-1)  # [k, vocab]
        vocab = candidates.size(1)
        top_scores, top = candidates.flatten().topk(min(beam_size - len(finished), candidates.numel()))
        parents = top // vocab
        beams = torch.cat([beams[parents], (top % vocab)[:, None]], dim=1)  # parent prefix + token
        scores = top_scores
        ended = beams[:, -1] == eos_id
        finished += list(zip(beams[ended], scores[ended].tolist()))
        beams, scores = beams[~ended], scores[~ended]
        if cache is not None:
            cache.reorder(parents[~ended])  # each surviving prefix continues from its parent's keys and values
        if beams.size(0) == 0:  # every slot holds a finished hypothesis
            break
    hypotheses = finished + list(zip(beams, scores.tolist()))  # prefixes still alive at max_len count too

    def penalised(hypothesis):
        tokens, log_prob = hypothesis
        return log_prob / ((5 + len(tokens) - 1) / 6) ** length_penalty

    tokens, log_prob = max(hypotheses, key=penalised)
    return tokens[None, :], log_prob
