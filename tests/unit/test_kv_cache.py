"""qkv.kv_cache: incremental decoding equals the full causal computation, layer by layer and end to end.

The reference is qkv's own uncached path, which tests/unit/test_transformer.py checks against
nn.TransformerDecoderLayer/Decoder; here the cached path must reproduce it position by position, in
float32 and float64, post-norm and pre-norm, and greedy decoding and beam search must give the same
tokens and (to rounding) the same scores with and without the cache.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.attention import MultiHeadAttention
from qkv.kv_cache import KVCache, LayerCache, kv_cache_bytes
from qkv.masks import causal_mask, padding_mask
from qkv.transformer import DecoderLayer, Transformer, beam_search, greedy_decode

from .reference import DTYPES, assert_close


def model(seed=0, dtype=torch.float32, norm_first=False, vocab=9, layers=2):
    torch.manual_seed(seed)
    m = Transformer(vocab, vocab, d_model=16, num_heads=4, num_layers=layers, d_ff=32, dropout=0.1,
                    norm_first=norm_first)
    return m.to(dtype).eval()


@pytest.mark.parametrize("dtype", DTYPES)
def test_cached_self_attention_equals_causal_attention_position_by_position(dtype):
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).to(dtype).eval()
    x = torch.randn(3, 6, 8, dtype=dtype)
    full, full_w = mha(x, x, x, causal_mask(6))
    cache = LayerCache()
    for t in range(6):
        out, w = cache.self_attention(mha, x[:, t:t + 1])
        assert w.shape == (3, 2, 1, t + 1)
        assert_close(out[:, 0], full[:, t])
        assert_close(w[:, :, 0], full_w[:, :, t, :t + 1])
    assert cache.length == 6 and cache.keys.shape == (3, 2, 6, 4)


def test_a_chunk_after_cached_positions_is_causal_within_itself():
    """Prefill 2 positions, then 4 at once: the chunk's queries see the past and the chunk up to themselves."""
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 6, 8)
    full, _ = mha(x, x, x, causal_mask(6))
    cache = LayerCache()
    first, _ = cache.self_attention(mha, x[:, :2])
    rest, w = cache.self_attention(mha, x[:, 2:])
    assert_close(torch.cat([first, rest], dim=1), full)
    assert bool((w[:, :, 0, 3:] == 0).all()) and bool((w[:, :, 0, :3] > 0).all())  # position 2 sees 0..2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_decoder_layer_equals_the_full_causal_layer_position_by_position(dtype, norm_first):
    torch.manual_seed(2)
    layer = DecoderLayer(16, 4, 32, dropout=0.1, norm_first=norm_first).to(dtype).eval()
    x, memory = torch.randn(2, 7, 16, dtype=dtype), torch.randn(2, 5, 16, dtype=dtype)
    memory_mask = padding_mask(torch.tensor([5, 3]), 5)  # [2, 1, 1, 5]: the second source is padded
    full, full_sw, full_cw = layer(x, memory, causal_mask(7), memory_mask)
    cache = LayerCache()
    for t in range(7):
        out, sw, cw = layer(x[:, t:t + 1], memory, memory_mask=memory_mask, cache=cache)
        assert_close(out[:, 0], full[:, t])
        assert_close(sw[:, :, 0], full_sw[:, :, t, :t + 1])
        assert_close(cw[:, :, 0], full_cw[:, :, t])
    assert cache.memory_keys.shape == (2, 4, 5, 4)  # projected once, kept


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_transformer_decode_equals_full_decode(dtype, norm_first):
    m = model(3, dtype, norm_first)
    src, tgt = torch.randint(9, (2, 5)), torch.randint(9, (2, 8))
    memory = m.encode(src)
    full = m.decode(tgt, memory)
    cache = KVCache(len(m.decoder.layers))
    steps = [m.decode(tgt[:, t:t + 1], memory, cache=cache) for t in range(8)]
    assert_close(torch.cat(steps, dim=1), full)
    assert cache.length == 8


def test_the_cache_is_what_makes_the_incremental_path_right():
    """Control: feeding one token at a time *without* a cache gives different logits (it cannot see the past)."""
    m = model(4)
    src, tgt = torch.randint(9, (1, 5)), torch.randint(9, (1, 6))
    memory = m.encode(src)
    full = m.decode(tgt, memory)
    alone = m.decode(tgt[:, 5:6], memory)  # position 0's embedding and no prefix
    assert (alone[:, 0] - full[:, 5]).abs().max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), norm_first=st.booleans())
def test_greedy_decode_with_and_without_cache_gives_the_same_tokens(dtype, seed, norm_first):
    m = model(seed % 50, dtype, norm_first)
    src = torch.randint(1, 9, (3, 6), generator=torch.Generator().manual_seed(seed))
    plain = greedy_decode(m, src, max_len=10, bos_id=0, eos_id=8)
    cached = greedy_decode(m, src, max_len=10, bos_id=0, eos_id=8, use_cache=True)
    assert torch.equal(plain, cached)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_beam_search_with_and_without_cache_gives_the_same_tokens_and_score(dtype, seed):
    m = model(seed, dtype)
    src = torch.randint(1, 9, (1, 6), generator=torch.Generator().manual_seed(seed))
    tokens, score = beam_search(m, src, beam_size=4, max_len=9, bos_id=0, eos_id=8, length_penalty=0.6)
    tokens_c, score_c = beam_search(m, src, beam_size=4, max_len=9, bos_id=0, eos_id=8, length_penalty=0.6,
                                    use_cache=True)
    assert torch.equal(tokens, tokens_c)
    assert abs(score - score_c) <= (1e-5 if dtype == torch.float32 else 1e-12) * max(1.0, abs(score))


def test_greedy_scores_match_step_by_step_with_the_cache():
    """The log-probability of every greedy token agrees with and without the cache (to float32 rounding)."""
    m = model(7)
    src = torch.randint(1, 9, (2, 6))
    tokens = greedy_decode(m, src, max_len=8, bos_id=0, eos_id=8, use_cache=True)
    memory = m.encode(src)
    full = torch.log_softmax(m.decode(tokens[:, :-1], memory), -1)
    cache = KVCache(2)
    steps = torch.cat([torch.log_softmax(m.decode(tokens[:, t:t + 1], memory, cache=cache), -1)
                       for t in range(tokens.size(1) - 1)], dim=1)
    picked = lambda lp: lp.gather(-1, tokens[:, 1:, None])  # noqa: E731
    assert_close(picked(steps), picked(full))


def test_reorder_follows_beam_parents_and_rejects_bad_rows():
    cache = KVCache(1)
    layer = cache.layers[0]
    layer.keys = layer.values = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 1).clone()
    cache.reorder(torch.tensor([1, 1, 2]))
    assert layer.keys[:, 0, 0, 0].tolist() == [1.0, 1.0, 2.0] and cache.length == 2
    with pytest.raises(ValueError, match=r"index: expected rows in \[0, 3\), got 0 to 3"):
        cache.reorder(torch.tensor([0, 3]))


def test_padding_mask_in_cross_attention_is_honoured_by_the_cached_path():
    m = model(8)
    src = torch.randint(1, 9, (2, 6))
    src_mask = padding_mask(torch.tensor([6, 4]), 6)
    plain = greedy_decode(m, src, max_len=8, bos_id=0, eos_id=8, src_mask=src_mask)
    cached = greedy_decode(m, src, max_len=8, bos_id=0, eos_id=8, src_mask=src_mask, use_cache=True)
    assert torch.equal(plain, cached)
    # Changing a padded source token changes nothing in the cached path either.
    src2 = src.clone()
    src2[1, 4:] = 1
    assert torch.equal(cached, greedy_decode(m, src2, max_len=8, bos_id=0, eos_id=8, src_mask=src_mask,
                                             use_cache=True))


def test_kv_cache_bytes_equals_the_bytes_a_filled_cache_holds():
    torch.manual_seed(0)
    for dtype, size in ((torch.float32, 4), (torch.float64, 8)):
        model = Transformer(9, 9, d_model=12, num_heads=3, num_layers=2, d_ff=16, dropout=0.0).to(dtype).eval()
        memory = model.encode(torch.tensor([[1, 2, 3], [4, 5, 6]]))
        cache = KVCache(2)
        for t in range(7):
            model.decode(torch.full((2, 1), t + 1), memory, cache=cache)
        stored = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)
        assert stored == kv_cache_bytes(2, 3, 4, 7, bytes_per_element=size, batch=2)
    # multi-query: a 32-head model with one key/value head caches 32 times less
    assert kv_cache_bytes(32, 32, 128, 4096) == 32 * kv_cache_bytes(32, 1, 128, 4096)
