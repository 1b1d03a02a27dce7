"""Bad input fails early with a ValueError or TypeError that names the argument and says what was expected
and what was received (shape or dtype), never with NaN or a traceback from deep inside torch."""

import pytest
import torch

from qkv.attention import AdditiveAttention, MultiHeadAttention, masked_softmax, scaled_dot_product_attention
from qkv.norms import BatchNorm1d, LayerNorm, RMSNorm
from qkv.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_bias,
    sinusoidal_encoding,
)
from qkv.rnn import GRU, LSTM, RNN, LSTMCell, RNNCell
from qkv.transformer import (
    DecoderLayer,
    EncoderLayer,
    PositionwiseFeedForward,
    TokenEmbedding,
    Transformer,
    beam_search,
    noam_lr,
)

from .reference import raises

# d_model not divisible by num_heads


def test_d_model_not_divisible_by_num_heads():
    with raises(ValueError, "d_model: expected a multiple of 3 (num_heads), got 10"):
        MultiHeadAttention(10, 3)
    with raises(ValueError, "d_model: expected a multiple of 4 (num_heads), got 6"):
        EncoderLayer(6, 4, 12)
    with raises(ValueError, "num_heads: expected a positive integer, got 0"):
        MultiHeadAttention(8, 0)


# query / key / value feature sizes that do not match


def test_query_key_value_sizes_that_do_not_match():
    q, k, v = torch.randn(2, 3, 8), torch.randn(2, 5, 6), torch.randn(2, 5, 4)
    with raises(ValueError, "key: expected last dimension of size 8 (the d_k of query), got shape (2, 5, 6)"):
        scaled_dot_product_attention(q, k, v)
    with raises(ValueError, "value: expected dimension -2 of size 5 (the length of key), got shape (2, 4, 4)"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 8), torch.randn(2, 4, 4))
    with raises(ValueError, "key: batch dimensions (3,) do not broadcast with those of query, (2,)"):
        scaled_dot_product_attention(q, torch.randn(3, 5, 8), torch.randn(3, 5, 4))
    mha = MultiHeadAttention(8, 2)
    with raises(ValueError, "key: expected last dimension of size 8 (d_model), got shape (2, 5, 6)"):
        mha(q, k, k)
    with raises(ValueError, "query: expected last dimension of size 8 (d_model), got shape (2, 3, 6)"):
        mha(torch.randn(2, 3, 6), q, q)
    with raises(ValueError, "value: expected dimension -2 of size 3 (the length of key), got shape (2, 4, 8)"):
        mha(q, q, torch.randn(2, 4, 8))
    with raises(ValueError, "key: expected dimension 0 of size 2 (the batch size of query), got shape (3, 3, 8)"):
        mha(q, torch.randn(3, 3, 8), torch.randn(3, 3, 8))
    with raises(ValueError, "query: expected 3 dimensions [batch, length, d_model], got shape (3, 8)"):
        mha(q[0], q[0], q[0])
    with raises(ValueError, "w_key: expected last dimension of size 6 (d_key), got shape (7, 5)"):
        AdditiveAttention(8, 5, 7)(q, k, v)
    with raises(TypeError, "key: expected dtype torch.float32 (the dtype of query), got torch.float64"):
        scaled_dot_product_attention(q, k.double(), v)


# masks that do not broadcast, masks of the wrong dtype


def test_mask_that_does_not_broadcast():
    q, k = torch.randn(2, 4, 3, 8), torch.randn(2, 4, 7, 8)
    with raises(ValueError, "mask: shape (2, 5) does not broadcast to scores of shape (2, 4, 3, 7)"):
        scaled_dot_product_attention(q, k, k, mask=torch.ones(2, 5, dtype=torch.bool))
    mha, x = MultiHeadAttention(8, 2), torch.randn(2, 5, 8)
    with raises(ValueError, "mask: shape (2, 1, 1, 4) does not broadcast to scores of shape (2, 2, 5, 5)"):
        mha(x, x, x, torch.ones(2, 1, 1, 4, dtype=torch.bool))
    with raises(ValueError, "bias: shape (3, 3, 7) does not broadcast to scores of shape (2, 4, 3, 7)"):
        scaled_dot_product_attention(q, k, k, bias=torch.zeros(3, 3, 7))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.uint8])
def test_mask_of_the_wrong_dtype(dtype):
    q = torch.randn(2, 3, 4)
    with raises(TypeError, f"mask: expected a boolean tensor (True = may attend), got {dtype}"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(3, 3, dtype=dtype))
    with raises(TypeError, f"mask: expected a boolean tensor (True = may attend), got {dtype}"):
        masked_softmax(torch.zeros(3, 3), torch.ones(3, 3, dtype=dtype))
    layer = EncoderLayer(4, 2, 8)
    with raises(TypeError, f"mask: expected a boolean tensor (True = may attend), got {dtype}"):
        layer(q, torch.ones(2, 1, 1, 3, dtype=dtype))


# a sequence longer than the positional table


def test_sequence_longer_than_the_positional_table():
    too_long = "x: sequence length {} is longer than the positional table (max_len={}), got shape {}"
    with raises(ValueError, too_long.format(9, 8, (1, 9, 4))):
        SinusoidalPositionalEncoding(4, max_len=8)(torch.zeros(1, 9, 4))
    with raises(ValueError, too_long.format(4, 3, (2, 4, 6))):
        LearnedPositionalEmbedding(6, 3)(torch.zeros(2, 4, 6))
    model = Transformer(5, 5, d_model=4, num_heads=2, num_layers=1, d_ff=8, max_len=6)
    with raises(ValueError, "src: sequence length 7 is longer than the positional table (max_len=6), got shape (1, 7)"):
        model(torch.zeros(1, 7, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long))
    with raises(ValueError, "tgt: sequence length 8 is longer than the positional table (max_len=6), got shape (1, 8)"):
        model(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 8, dtype=torch.long))


# integer tensors where floats are needed (and floats where integers are needed)


def test_integer_tensors_where_floats_are_needed():
    ints = torch.ones(2, 3, 4, dtype=torch.long)
    floats = torch.randn(2, 3, 4)
    with raises(TypeError, "query: expected a floating-point tensor, got torch.int64"):
        scaled_dot_product_attention(ints, floats, floats)
    with raises(TypeError, "value: expected a floating-point tensor, got torch.int32"):
        scaled_dot_product_attention(floats, floats, ints.int())
    with raises(TypeError, "query: expected a floating-point tensor, got torch.int64"):
        MultiHeadAttention(4, 2)(ints, floats, floats)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        EncoderLayer(4, 2, 8)(ints)
    with raises(TypeError, "memory: expected a floating-point tensor, got torch.int64"):
        DecoderLayer(4, 2, 8)(floats, ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        LayerNorm(4)(ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        BatchNorm1d(3)(ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        RMSNorm(4)(ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        SinusoidalPositionalEncoding(4)(ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        RotaryEmbedding(4).rotate(ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        PositionwiseFeedForward(4, 8)(ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        LSTM(4, 5)(ints)
    with raises(TypeError, "x: expected a floating-point tensor, got torch.int64"):
        RNNCell(4, 5)(ints[0])
    with raises(TypeError, "query: expected a torch.Tensor, got list"):
        scaled_dot_product_attention([[1.0]], floats, floats)


def test_float_tensors_where_token_ids_are_needed():
    with raises(TypeError, "tokens: expected an integer tensor, got torch.float32"):
        TokenEmbedding(10, 4)(torch.zeros(2, 3))
    with raises(ValueError, "tokens: expected ids in [0, vocab_size=10), got ids from 0 to 12"):
        TokenEmbedding(10, 4)(torch.tensor([[0, 12]]))
    model = Transformer(5, 5, d_model=4, num_heads=2, num_layers=1, d_ff=8)
    with raises(TypeError, "src: expected an integer tensor, got torch.float32"):
        model(torch.zeros(1, 3), torch.zeros(1, 2, dtype=torch.long))


# empty sequences


def test_empty_sequences():
    q, empty = torch.randn(2, 3, 4), torch.randn(2, 0, 4)
    with raises(ValueError, "key: expected a non-empty sequence, got length 0 in shape (2, 0, 4)"):
        scaled_dot_product_attention(q, empty, empty)
    with raises(ValueError, "query: expected a non-empty sequence, got length 0 in shape (2, 0, 4)"):
        scaled_dot_product_attention(empty, q, q)
    with raises(ValueError, "key: expected a non-empty sequence, got length 0 in shape (2, 0, 4)"):
        MultiHeadAttention(4, 2)(q, empty, empty)
    with raises(ValueError, "x: expected a non-empty sequence, got length 0 in shape (2, 0, 4)"):
        EncoderLayer(4, 2, 8)(empty)
    with raises(ValueError, "memory: expected a non-empty sequence, got length 0 in shape (2, 0, 4)"):
        DecoderLayer(4, 2, 8)(q, empty)
    with raises(ValueError, "x: expected a non-empty sequence, got length 0 in shape (2, 0, 4)"):
        SinusoidalPositionalEncoding(4)(empty)
    with raises(ValueError, "x: expected a non-empty sequence, got length 0 in shape (2, 0, 4)"):
        GRU(4, 3)(empty)
    model = Transformer(5, 5, d_model=4, num_heads=2, num_layers=1, d_ff=8)
    with raises(ValueError, "src: expected a non-empty sequence, got length 0 in shape (1, 0)"):
        model(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long))
    with raises(ValueError, "q_len: expected a positive integer, got 0"):
        alibi_bias(2, 0, 3)


# other arguments


def test_other_bad_arguments():
    with raises(ValueError, "activation: expected one of 'relu', 'gelu', got 'swish'"):
        PositionwiseFeedForward(4, 8, activation="swish")
    with raises(ValueError, "dropout_p: expected a probability in [0, 1), got 1.5"):
        scaled_dot_product_attention(torch.randn(1, 2, 2), torch.randn(1, 2, 2), torch.randn(1, 2, 2), dropout_p=1.5)
    with raises(ValueError, "d_model: expected a multiple of 2 (sine/cosine pairs), got 5"):
        sinusoidal_encoding(10, 5)
    with raises(ValueError, "x: expected last dimension of size 8 (head_dim), got shape (2, 3, 6)"):
        RotaryEmbedding(8).rotate(torch.randn(2, 3, 6))
    with raises(ValueError, "x: expected trailing dimensions (4,), got shape (2, 3)"):
        LayerNorm(4)(torch.randn(2, 3))
    with raises(ValueError, "x: expected dimension 1 of size 3 (num_features), got shape (4, 5)"):
        BatchNorm1d(3)(torch.randn(4, 5))
    with raises(ValueError, "x: expected 2 or 3 dimensions [batch, channels] or [batch, channels, length], "
                            "got shape (2, 3, 4, 5)"):
        BatchNorm1d(3)(torch.randn(2, 3, 4, 5))
    with raises(ValueError, "h0: expected shape (2, 3, 5) [num_layers, batch of x, hidden_size], got (1, 3, 5)"):
        RNN(4, 5, num_layers=2)(torch.randn(3, 6, 4), torch.zeros(1, 3, 5))
    with raises(ValueError, "h: expected shape (3, 5) [batch of x, hidden_size], got (3, 4)"):
        LSTMCell(4, 5)(torch.randn(3, 4), (torch.zeros(3, 4), torch.zeros(3, 4)))
    with raises(ValueError, "step: expected a positive integer, got 0"):
        noam_lr(0, 512, 4000)
    model = Transformer(5, 5, d_model=4, num_heads=2, num_layers=1, d_ff=8).eval()
    with raises(ValueError, "src: expected dimension 0 of size 1 (beam search decodes one sentence), got shape (2, 3)"):
        beam_search(model, torch.zeros(2, 3, dtype=torch.long), beam_size=2, max_len=4, bos_id=0, eos_id=1)
    with raises(TypeError, "layer: expected a torch.nn.TransformerEncoderLayer, got Linear"):
        EncoderLayer.from_torch(torch.nn.Linear(2, 2))


# ----------------------------------------------------------------------------------------------------
# The checks' edges and every argument's name (each test below kills mutants that `make mutation` found
# surviving: a check's boundary moved by one, a name or layout dropped from a message).

from qkv import checks  # noqa: E402


def test_tensor_checks_name_the_argument_when_it_is_not_a_tensor():
    for check in (checks.check_integer, checks.check_bool_tensor):
        with raises(TypeError, "ids: expected a torch.Tensor, got list"):
            check("ids", [1])
    with raises(TypeError, "h: expected a torch.Tensor, got list"):
        checks.check_shape("h", [1], (1,), "[B]")


def test_check_token_ids_boundaries():
    checks.check_token_ids("tokens", torch.zeros(0, dtype=torch.long), 3)  # no ids: nothing to check
    checks.check_token_ids("tokens", torch.tensor([0, 2]), 3)  # 0 and vocab_size - 1 are ids
    with raises(ValueError, "tokens: expected ids in [0, vocab_size=3), got ids from 3 to 3"):
        checks.check_token_ids("tokens", torch.tensor([3]), 3)  # one id is checked too


def test_check_pair_names_what_it_got():
    with raises(TypeError, "state: expected a pair (h, c), got int"):
        checks.check_pair("state", 5, "(h, c)")


def test_check_max_length_accepts_exactly_max_len():
    checks.check_max_length("x", torch.zeros(1, 4, 2), 4)


def test_check_attention_inputs_messages():
    q = torch.randn(2, 3, 4)
    with raises(ValueError, "query: expected at least 2 dimensions [..., length, features], got shape (4,)"):
        checks.check_attention_inputs(torch.randn(4), q, q)
    with raises(TypeError, "value: expected dtype torch.float32 (the dtype of query), got torch.float64"):
        checks.check_attention_inputs(q, q, q.double())
    with raises(ValueError, "value: batch dimensions (3,) do not broadcast with those of key, (2,)"):
        checks.check_attention_inputs(q, q, torch.randn(3, 3, 4))


def test_check_number_edges_and_messages():
    assert checks.check_number("p", 1.0, high=1.0) == 1.0  # high is inclusive
    with raises(ValueError, "x: expected a number <= 1, got 2.0"):
        checks.check_number("x", 2, high=1)
    with raises(ValueError, "x: expected a number, got nan"):
        checks.check_number("x", float("nan"))


def test_check_flag_returns_the_flag():
    assert checks.check_flag("bias", True) is True
    assert checks.check_flag("bias", False) is False


def test_check_int_bounds_are_inclusive_and_named():
    assert checks.check_int("k", 3, low=0, high=3) == 3
    assert checks.check_int("k", 0, low=0) == 0
    assert checks.check_int("k", 3, high=3) == 3
    with raises(ValueError, "k: expected an int <= 3, got 4"):
        checks.check_int("k", 4, high=3)


def test_attention_messages_name_each_argument():
    x = torch.randn(2, 3, 4)
    w, vec = torch.randn(5, 4), torch.randn(5)
    from qkv.attention import additive_attention

    for name, args in (("w_query", (w.long(), w, vec)), ("w_key", (w, w.long(), vec)), ("v", (w, w, vec.long()))):
        with raises(TypeError, f"{name}: expected a floating-point tensor, got torch.int64"):
            additive_attention(x, x, x, *args)
    with raises(ValueError, "w_query: expected 2 dimensions [d_hidden, d_query], got shape (5,)"):
        additive_attention(x, x, x, vec, w, vec)
    with raises(ValueError, "w_key: expected 2 dimensions [d_hidden, d_key], got shape (5,)"):
        additive_attention(x, x, x, w, vec, vec)
    with raises(ValueError, "w_query: expected last dimension of size 4 (d_query), got shape (5, 3)"):
        additive_attention(x, x, x, torch.randn(5, 3), w, vec)
    with raises(ValueError, "d_query: expected a positive integer, got 0"):
        AdditiveAttention(0, 4, 8)
    with raises(ValueError, "d_hidden: expected a positive integer, got 0"):
        AdditiveAttention(4, 4, 0)
    attn = AdditiveAttention(4, 4, 8)
    for i, name in enumerate(("query", "key", "value")):
        args = [x, x, x]
        args[i] = x.long()
        with raises(TypeError, f"{name}: expected a floating-point tensor, got torch.int64"):
            attn(*args)
        args[i] = x.double()
        with raises(TypeError, f"{name}: expected dtype torch.float32 (the dtype of the module's weights), "
                               f"got torch.float64"):
            attn(*args)
    with raises(ValueError, "d_model: expected a positive integer, got 0"):
        MultiHeadAttention(0, 2)
    with raises(ValueError, "dropout: expected a probability in [0, 1), got 1.5"):
        MultiHeadAttention(8, 2, dropout=1.5)
    with raises(ValueError, "value: expected last dimension of size 4 (d_model), got shape (2, 3, 3)"):
        MultiHeadAttention(4, 2)(x, x, x[..., :3])
    with raises(ValueError, "mha: expected kdim == vdim == embed_dim, add_bias_kv=False and add_zero_attn=False"):
        MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2, add_zero_attn=True))
    with raises(ValueError, "scores: expected at least 1 dimensions [..., Lk], got shape ()"):
        masked_softmax(torch.tensor(1.0))


def test_sdpa_reports_a_bad_mask_before_a_bad_bias():
    """Arguments are checked in the order of the signature, so the first bad one is the one named."""
    x = torch.randn(2, 3, 4)
    with raises(TypeError, "mask: expected a boolean tensor (True = may attend), got torch.float32"):
        scaled_dot_product_attention(x, x, x, mask=torch.ones(3, 3), bias=torch.ones(3, 3, dtype=torch.long))
