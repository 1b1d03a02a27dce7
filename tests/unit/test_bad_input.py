"""Bad input to every public call of qkv fails early with a clear error, generated from one table.

Each row of :data:`ROWS` is ``(target, call, exception type, regex)``: ``target`` is the public
function or class (``"qkv.module.name"``, a method as ``"qkv.module.Class.method"``), ``call`` a
zero-argument function that makes one bad call, and the regex must match the whole message from its
start: it names the argument and says what was expected (``"name: expected ..."``). A test enumerates
the public API (as ``test_docstrings.py`` does) and fails if a public callable has no row, unless it
is listed in :data:`EXEMPT` with the reason it takes no input to check.
"""

import importlib
import inspect
import pkgutil
import re

import pytest
import torch
from torch import nn

import qkv
import qkv.recurrence
from qkv import bugs, checks
from qkv.attention import (
    AdditiveAttention,
    GroupedQueryAttention,
    MultiHeadAttention,
    additive_attention,
    blockwise_attention,
    masked_softmax,
    repeat_kv_heads,
)
from qkv.attention import scaled_dot_product_attention as sdpa
from qkv.datapackages import package_data_dir, require_module
from qkv.heads import attention_entropy, best_head, key_mass, offset_score, profile_heads
from qkv.kv_cache import KVCache, LayerCache, kv_cache_bytes
from qkv.masks import causal_mask, combine_masks, find_leaks, padding_mask, sliding_window_mask
from qkv.norms import BatchNorm1d, LayerNorm, RMSNorm
from qkv.positional import (
    LearnedPositionalEmbedding,
    RelativePositionBias,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_bias,
    alibi_slopes,
    relative_position_bucket,
    sinusoidal_encoding,
)
from qkv.pretrained import (
    BertConfig,
    BertEmbeddings,
    BertEncoder,
    MiniLM,
    bert_weight_names,
    load_bert_weights,
    load_minilm,
)
from qkv.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from qkv.saturation import sample_query_keys, saturation
from qkv.softmax import jacobian_max_abs, softmax_entropy, softmax_jacobian
from qkv.tasks import first_and_previous_batch, first_minus_previous_batch, key_value_lookup_batch, previous_token_batch
from qkv.toy_models import DeepEncoder, LookupAttention, MultiHeadReader, OneLayerAttention
from qkv.train import fit, masked_mse, shifted_cross_entropy, token_accuracy, token_cross_entropy, within_tolerance
from qkv.transformer import (
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    PositionwiseFeedForward,
    TokenEmbedding,
    Transformer,
    beam_search,
    greedy_decode,
    noam_lr,
    noam_scheduler,
)
from qkv.wordvectors import WordVectors, load_glove

R = torch.randn
G = torch.Generator
F16, F64, LONG, BOOL = torch.float16, torch.float64, torch.long, torch.bool
x3 = R(2, 3, 4)  # [B, T, d_model=4]
tok = torch.tensor([[1, 2, 3]])


def ones(*shape, dtype=BOOL):
    return torch.ones(*shape, dtype=dtype)


def lstm_weights(h=4, i=3):
    return R(4 * h, i), R(4 * h, h)


def tiny():
    return Transformer(5, 5, d_model=4, num_heads=2, num_layers=1, d_ff=8, dropout=0.0).eval()


def wv():
    return WordVectors(["up", "down"], torch.eye(2))


def small_bert():
    return BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=16, max_position_embeddings=4)


def mse(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def batch(g):
    return R(4, 2), R(4, 1)


uniform = lambda t: (torch.zeros(*t.shape, 10), None)  # logits [B, T, 10]
wrong_logits = lambda t: (torch.zeros(*t.shape), None)  # no class dimension
real = lambda x: (torch.zeros_like(x), None)

ROWS = [
    # --- qkv.checks: the vocabulary itself
    ("qkv.checks.check_tensor", lambda: checks.check_tensor("a", [1]), TypeError, r"a: expected a torch\.Tensor, got list"),  # noqa: E501
    ("qkv.checks.check_float", lambda: checks.check_float("a", ones(2, dtype=LONG)), TypeError,
     r"a: expected a floating-point tensor, got torch\.int64"),
    ("qkv.checks.check_integer", lambda: checks.check_integer("a", ones(2)), TypeError,
     r"a: expected an integer tensor, got torch\.bool"),
    ("qkv.checks.check_token_ids", lambda: checks.check_token_ids("a", torch.tensor([-1, 2]), 3), ValueError,
     r"a: expected ids in \[0, vocab_size=3\), got ids from -1 to 2"),
    ("qkv.checks.check_bool_tensor", lambda: checks.check_bool_tensor("m", ones(2, dtype=torch.uint8)), TypeError,
     r"m: expected a boolean tensor \(True = may attend\), got torch\.uint8"),
    ("qkv.checks.check_no_nan", lambda: checks.check_no_nan("s", torch.tensor([0.0, float("nan")])), ValueError,
     r"s: expected no NaN, got NaN at index \(1,\) of shape \(2,\)"),
    ("qkv.checks.check_no_nan", lambda: checks.check_no_nan("s", [0.0]), TypeError, r"s: expected a torch\.Tensor, got list"),  # noqa: E501
    ("qkv.checks.check_module_dtype", lambda: checks.check_module_dtype("x", R(2).double(), torch.float32, True),
     TypeError, r"x: expected dtype torch\.float32 \(or float16/bfloat16\) \(the dtype of the module's weights\), "
     r"got torch\.float64"),
    ("qkv.checks.check_shape", lambda: checks.check_shape("h", R(1, 4), (2, 4), "[B, H]"), ValueError,
     r"h: expected shape \(2, 4\) \[B, H\], got \(1, 4\)"),
    ("qkv.checks.check_pair", lambda: checks.check_pair("state", (1, 2, 3), "(h, c)"), TypeError,
     r"state: expected a pair \(h, c\), got tuple of length 3"),
    ("qkv.checks.check_same_dtype", lambda: checks.check_same_dtype("k", R(2).half(), "q", R(2)), TypeError,
     r"k: expected dtype torch\.float32 \(the dtype of q\), got torch\.float16"),
    ("qkv.checks.check_ndim", lambda: checks.check_ndim("x", R(2), (2, 3), "[B, C]"), ValueError,
     r"x: expected 2 or 3 dimensions \[B, C\], got shape \(2,\)"),
    ("qkv.checks.check_min_ndim", lambda: checks.check_min_ndim("x", R(2), 2, "[..., L, d]"), ValueError,
     r"x: expected at least 2 dimensions \[\.\.\., L, d\], got shape \(2,\)"),
    ("qkv.checks.check_size", lambda: checks.check_size("x", R(2, 3), 0, 4, "batch"), ValueError,
     r"x: expected dimension 0 of size 4 \(batch\), got shape \(2, 3\)"),
    ("qkv.checks.check_nonempty", lambda: checks.check_nonempty("x", R(2, 0), 1), ValueError,
     r"x: expected a non-empty sequence, got length 0 in shape \(2, 0\)"),
    ("qkv.checks.check_max_length", lambda: checks.check_max_length("x", R(1, 5, 2), 4), ValueError,
     r"x: sequence length 5 is longer than the positional table \(max_len=4\), got shape \(1, 5, 2\)"),
    ("qkv.checks.check_batch_dims", lambda: checks.check_batch_dims("k", R(3, 2, 2), "q", R(2, 2, 2)), ValueError,
     r"k: batch dimensions \(3,\) do not broadcast with those of q, \(2,\)"),
    ("qkv.checks.check_attention_inputs", lambda: checks.check_attention_inputs(R(2, 4), R(3, 4), R(2, 4)), ValueError,
     r"value: expected dimension -2 of size 3 \(the length of key\), got shape \(2, 4\)"),
    ("qkv.checks.check_mask", lambda: checks.check_mask("mask", ones(3), (2, 2)), ValueError,
     r"mask: shape \(3,\) does not broadcast to scores of shape \(2, 2\)"),
    ("qkv.checks.check_bias", lambda: checks.check_bias("bias", R(3), (2, 2)), ValueError,
     r"bias: shape \(3,\) does not broadcast to scores of shape \(2, 2\)"),
    ("qkv.checks.check_positive_int", lambda: checks.check_positive_int("n", 2.0), TypeError,
     r"n: expected a positive integer, got float 2\.0"),
    ("qkv.checks.check_number", lambda: checks.check_number("eps", -1, low=0.0), ValueError,
     r"eps: expected a number >= 0\.0, got -1\.0"),
    ("qkv.checks.check_divisible", lambda: checks.check_divisible("d", 5, "pairs", 2), ValueError,
     r"d: expected a multiple of 2 \(pairs\), got 5"),
    ("qkv.checks.check_probability", lambda: checks.check_probability("p", "0.1"), TypeError,
     r"p: expected a probability in \[0, 1\), got str '0\.1'"),
    ("qkv.checks.check_choice", lambda: checks.check_choice("act", True, (1, 2)), ValueError,
     r"act: expected one of 1, 2, got True"),
    ("qkv.checks.check_flag", lambda: checks.check_flag("bias", "no"), TypeError, r"bias: expected a bool, got str 'no'"),  # noqa: E501
    ("qkv.checks.check_int", lambda: checks.check_int("k", 5, low=0, high=3), ValueError,
     r"k: expected an int in \[0, 3\], got 5"),
    ("qkv.checks.check_str", lambda: checks.check_str("w", None), TypeError, r"w: expected a str, got NoneType None"),
    ("qkv.checks.check_generator", lambda: checks.check_generator("generator", 0), TypeError,
     r"generator: expected a torch\.Generator, got int"),
    ("qkv.checks.broadcasts_to", lambda: checks.check_mask("mask", ones(2, 1, 3), (1, 3)), ValueError,
     r"mask: shape \(2, 1, 3\) does not broadcast to scores of shape \(1, 3\)"),
    ("qkv.checks.shapes_broadcast", lambda: combine_masks(ones(2), ones(3)), ValueError,
     r"masks\[1\]: shape \(3,\) does not broadcast with the masks before it, shape \(2,\)"),
    # --- attention
    ("qkv.attention.masked_softmax", lambda: masked_softmax(ones(2, 3, dtype=LONG)), TypeError,
     r"scores: expected a floating-point tensor, got torch\.int64"),
    ("qkv.attention.masked_softmax", lambda: masked_softmax(R(2, 3), ones(3, 3)), ValueError,
     r"mask: shape \(3, 3\) does not broadcast to scores of shape \(2, 3\)"),
    ("qkv.attention.scaled_dot_product_attention", lambda: sdpa(x3, x3, x3, scale="1"), TypeError,
     r"scale: expected a number, got str '1'"),
    ("qkv.attention.scaled_dot_product_attention", lambda: sdpa(x3, x3, x3, bias=ones(3, 3)), TypeError,
     r"bias: expected a floating-point tensor, got torch\.bool"),
    ("qkv.attention.scaled_dot_product_attention", lambda: sdpa(x3, x3, x3, dropout_p=None), TypeError,
     r"dropout_p: expected a probability in \[0, 1\), got NoneType None"),
    ("qkv.attention.additive_attention", lambda: additive_attention(x3, x3, x3, R(5, 4), R(6, 4), R(5)), ValueError,
     r"w_key: expected dimension 0 of size 5 \(d_hidden, the rows of w_query\), got shape \(6, 4\)"),
    ("qkv.attention.additive_attention", lambda: additive_attention(x3, x3, x3, R(5, 4), R(5, 4), R(4)), ValueError,
     r"v: expected shape \(5,\) \[d_hidden\], got \(4,\)"),
    ("qkv.attention.additive_attention", lambda: additive_attention(x3, x3, x3, R(5, 4).double(), R(5, 4), R(5)),
     TypeError, r"w_query: expected dtype torch\.float32 \(the dtype of query\), got torch\.float64"),
    ("qkv.attention.additive_attention", lambda: additive_attention(x3, x3, x3, R(5, 4), R(5, 4), R(5), ones(2, 2)),
     ValueError, r"mask: shape \(2, 2\) does not broadcast to scores of shape \(2, 3, 3\)"),
    ("qkv.attention.AdditiveAttention", lambda: AdditiveAttention(4, 0, 8), ValueError,
     r"d_key: expected a positive integer, got 0"),
    ("qkv.attention.AdditiveAttention.forward", lambda: AdditiveAttention(4, 4, 8)(x3.double(), x3, x3), TypeError,
     r"query: expected dtype torch\.float32 \(the dtype of the module's weights\), got torch\.float64"),
    ("qkv.attention.MultiHeadAttention", lambda: MultiHeadAttention(8, 2, bias="no"), TypeError,
     r"bias: expected a bool, got str 'no'"),
    ("qkv.attention.MultiHeadAttention.forward", lambda: MultiHeadAttention(4, 2)(x3.double(), x3, x3), TypeError,
     r"query: expected dtype torch\.float32 \(the dtype of the module's weights\), got torch\.float64"),
    ("qkv.attention.MultiHeadAttention.forward", lambda: MultiHeadAttention(4, 2)(x3[:1], x3, x3), ValueError,
     r"key: expected dimension 0 of size 1 \(the batch size of query\), got shape \(2, 3, 4\)"),
    ("qkv.attention.MultiHeadAttention.from_torch", lambda: MultiHeadAttention.from_torch(nn.Linear(2, 2)), TypeError,
     r"mha: expected a torch\.nn\.MultiheadAttention, got Linear"),
    ("qkv.attention.repeat_kv_heads", lambda: repeat_kv_heads(x3, 2), ValueError,
     r"x: expected 4 dimensions \[batch, kv_heads, length, head_dim\], got shape \(2, 3, 4\)"),
    ("qkv.attention.repeat_kv_heads", lambda: repeat_kv_heads(R(1, 2, 3, 4), 0), ValueError,
     r"repeats: expected a positive integer, got 0"),
    ("qkv.attention.GroupedQueryAttention", lambda: GroupedQueryAttention(24, 6, 4), ValueError,
     r"num_heads: expected a multiple of 4 \(num_kv_heads\), got 6"),
    ("qkv.attention.GroupedQueryAttention", lambda: GroupedQueryAttention(8, 4, 0), ValueError,
     r"num_kv_heads: expected a positive integer, got 0"),
    ("qkv.attention.GroupedQueryAttention.forward", lambda: GroupedQueryAttention(4, 2, 1)(x3.double(), x3, x3),
     TypeError, r"query: expected dtype torch\.float32 \(the dtype of the module's weights\), got torch\.float64"),
    ("qkv.attention.GroupedQueryAttention.forward", lambda: GroupedQueryAttention(4, 2, 1)(x3, x3, x3, ones(3, 4)),
     ValueError, r"mask: shape \(3, 4\) does not broadcast to scores of shape \(2, 2, 3, 3\)"),
    ("qkv.attention.GroupedQueryAttention.project_kv",
     lambda: GroupedQueryAttention(4, 2, 1).project_kv(x3, R(2, 5, 4)),
     ValueError, r"value: expected dimension 1 of size 3 \(the length of key\), got shape \(2, 5, 4\)"),
    ("qkv.attention.GroupedQueryAttention.from_multi_head",
     lambda: GroupedQueryAttention.from_multi_head(nn.MultiheadAttention(4, 2)), TypeError,
     r"mha: expected a qkv\.attention\.MultiHeadAttention, got MultiheadAttention"),
    ("qkv.attention.blockwise_attention", lambda: blockwise_attention(x3, x3, x3, block_size=0), ValueError,
     r"block_size: expected a positive integer, got 0"),
    ("qkv.attention.blockwise_attention", lambda: blockwise_attention(x3, x3, x3, ones(3, 4)), ValueError,
     r"mask: shape \(3, 4\) does not broadcast to scores of shape \(2, 3, 3\)"),
    ("qkv.attention.blockwise_attention", lambda: blockwise_attention(x3, R(2, 3, 5), x3), ValueError,
     r"key: expected last dimension of size 4 \(the d_k of query\), got shape \(2, 3, 5\)"),
    # --- masks
    ("qkv.masks.padding_mask", lambda: padding_mask(torch.tensor([2, 3]), max_len=3.5), TypeError,
     r"max_len: expected an int, got float 3\.5"),
    ("qkv.masks.padding_mask", lambda: padding_mask(torch.tensor([2, 5]), max_len=3), ValueError,
     r"lengths: expected values in \[0, max_len=3\], got \[2, 5\]"),
    ("qkv.masks.padding_mask", lambda: padding_mask(tokens=tok, pad_id="0"), TypeError,
     r"pad_id: expected an int, got str '0'"),
    ("qkv.masks.padding_mask", lambda: padding_mask([2.5]), TypeError,
     r"lengths: expected a \[batch\] integer tensor or a list of ints, got \[2\.5\]"),
    ("qkv.masks.padding_mask", lambda: padding_mask([True, 2]), TypeError,  # a bool is an int to Python, not here
     r"lengths: expected a \[batch\] integer tensor or a list of ints, got \[True, 2\]"),
    ("qkv.masks.causal_mask", lambda: causal_mask(0), ValueError, r"size: expected a positive integer, got 0"),
    ("qkv.kv_cache.kv_cache_bytes", lambda: kv_cache_bytes(32, 8, 128, 4096, bytes_per_element=0.5), TypeError,
     r"bytes_per_element: expected a positive integer, got float 0\.5"),
    ("qkv.masks.sliding_window_mask", lambda: sliding_window_mask(4, 0), ValueError,
     r"window: expected a positive integer, got 0"),
    ("qkv.masks.sliding_window_mask", lambda: sliding_window_mask(4, 2, causal="yes"), TypeError,
     r"causal: expected a bool, got str 'yes'"),
    ("qkv.masks.combine_masks", lambda: combine_masks(ones(2), R(2)), TypeError,
     r"masks\[1\]: expected a boolean tensor \(True = may attend\), got torch\.float32"),
    ("qkv.masks.find_leaks", lambda: find_leaks(lambda x: x, R(2, 3), causal_mask(4)), ValueError,
     r"allowed: shape \(4, 4\) does not broadcast to \[B, T_out, T_in\] = \(2, 3, 3\)"),
    # --- norms
    ("qkv.norms.LayerNorm", lambda: LayerNorm(0), ValueError, r"normalized_shape: expected a positive integer, got 0"),
    ("qkv.norms.LayerNorm", lambda: LayerNorm(4, eps="1e-5"), TypeError, r"eps: expected a number, got str '1e-5'"),
    ("qkv.norms.LayerNorm", lambda: LayerNorm(4, bias="no"), TypeError, r"bias: expected a bool, got str 'no'"),
    ("qkv.norms.LayerNorm.forward", lambda: LayerNorm(4)(x3.double()), TypeError,
     r"x: expected dtype torch\.float32 \(or float16/bfloat16\) \(the dtype of the module's weights\), "
     r"got torch\.float64"),
    ("qkv.norms.BatchNorm1d", lambda: BatchNorm1d(4, momentum=2.0), ValueError,
     r"momentum: expected a number >= 0\.0 and <= 1\.0, got 2\.0"),
    ("qkv.norms.BatchNorm1d.forward", lambda: BatchNorm1d(3)(R(1, 3)), ValueError,
     r"x: expected more than 1 value per channel in training, got shape \(1, 3\)"),
    ("qkv.norms.BatchNorm1d.forward", lambda: BatchNorm1d(3).half()(R(2, 3)), TypeError,
     r"x: expected dtype torch\.float16 \(the dtype of the module's weights\), got torch\.float32"),
    ("qkv.norms.RMSNorm", lambda: RMSNorm((4, 0)), ValueError, r"normalized_shape\[1\]: expected a positive integer, got 0"),  # noqa: E501
    ("qkv.norms.RMSNorm.forward", lambda: RMSNorm(4)(R(2, 3)), ValueError,
     r"x: expected trailing dimensions \(4,\), got shape \(2, 3\)"),
    # --- positional
    ("qkv.positional.sinusoidal_encoding", lambda: sinusoidal_encoding(4, 4, dtype=torch.long), TypeError,
     r"dtype: expected a floating-point torch\.dtype, got torch\.int64"),
    ("qkv.positional.SinusoidalPositionalEncoding", lambda: SinusoidalPositionalEncoding(4, dropout=1.0), ValueError,
     r"dropout: expected a probability in \[0, 1\), got 1\.0"),
    ("qkv.positional.SinusoidalPositionalEncoding.forward",
     lambda: SinusoidalPositionalEncoding(4, max_len=8)(R(2, 3, 4), start=6), ValueError,
     r"start: expected start \+ length <= max_len = 8, got 6 \+ 3"),
    ("qkv.positional.SinusoidalPositionalEncoding.forward",
     lambda: SinusoidalPositionalEncoding(4)(R(2, 3, 4), start=-1), ValueError, r"start: expected an int >= 0, got -1"),
    ("qkv.positional.SinusoidalPositionalEncoding.forward", lambda: SinusoidalPositionalEncoding(4)(R(2, 3, 6)),
     ValueError, r"x: expected last dimension of size 4 \(d_model\), got shape \(2, 3, 6\)"),
    ("qkv.positional.LearnedPositionalEmbedding", lambda: LearnedPositionalEmbedding(4, 0), ValueError,
     r"max_len: expected a positive integer, got 0"),
    ("qkv.positional.LearnedPositionalEmbedding.forward", lambda: LearnedPositionalEmbedding(4, 2)(x3), ValueError,
     r"x: sequence length 3 is longer than the positional table \(max_len=2\), got shape \(2, 3, 4\)"),
    ("qkv.positional.RotaryEmbedding", lambda: RotaryEmbedding(4, base=0), ValueError,
     r"base: expected a number > 0\.0, got 0\.0"),
    ("qkv.positional.RotaryEmbedding", lambda: RotaryEmbedding(4, position_scale=-0.5), ValueError,
     r"position_scale: expected a number > 0\.0, got -0\.5"),
    ("qkv.positional.RotaryEmbedding.rotate", lambda: RotaryEmbedding(4).rotate(x3, torch.arange(2)), ValueError,
     r"positions: expected shape \(3,\) \[length of x\], got \(2,\)"),
    ("qkv.positional.RotaryEmbedding.forward", lambda: RotaryEmbedding(4)(x3, R(2, 3, 2)), ValueError,
     r"x: expected last dimension of size 4 \(head_dim\), got shape \(2, 3, 2\)"),
    ("qkv.positional.alibi_slopes", lambda: alibi_slopes(-1), ValueError, r"num_heads: expected a positive integer, got -1"),  # noqa: E501
    ("qkv.positional.alibi_bias", lambda: alibi_bias("2", 3, 3), TypeError,
     r"num_heads: expected a positive integer, got str '2'"),
    ("qkv.positional.relative_position_bucket", lambda: relative_position_bucket(torch.arange(3), num_buckets=2),
     ValueError, r"num_buckets: expected an int >= 4, got 2"),
    ("qkv.positional.relative_position_bucket", lambda: relative_position_bucket(torch.arange(3), max_distance=8),
     ValueError, r"max_distance: expected an int >= 9, got 8"),
    ("qkv.positional.RelativePositionBias", lambda: RelativePositionBias(2, bidirectional=1), TypeError,
     r"bidirectional: expected a bool, got int 1"),
    ("qkv.positional.RelativePositionBias.forward", lambda: RelativePositionBias(2)(0, 3), ValueError,
     r"q_len: expected a positive integer, got 0"),
    # --- rnn
    ("qkv.rnn.rnn_cell", lambda: rnn_cell(R(2, 3), R(2, 4), R(4, 3), R(4, 4), nonlinearity="sigmoid"), ValueError,
     r"nonlinearity: expected one of 'tanh', 'relu', got 'sigmoid'"),
    ("qkv.rnn.rnn_cell", lambda: rnn_cell(R(2, 3), R(1, 4), R(4, 3), R(4, 4)), ValueError,
     r"h: expected shape \(2, 4\) \[batch of x, hidden_size\], got \(1, 4\)"),
    ("qkv.rnn.lstm_cell", lambda: lstm_cell(R(2, 3), (R(2, 4), R(1, 4)), *lstm_weights()), ValueError,
     r"c: expected shape \(2, 4\) \[batch of x, hidden_size\], got \(1, 4\)"),
    ("qkv.rnn.lstm_cell", lambda: lstm_cell(R(2, 3), R(2, 4), *lstm_weights()), TypeError,
     r"state: expected a pair \(h \[B, H\], c \[B, H\]\), got Tensor"),
    ("qkv.rnn.gru_cell", lambda: gru_cell(R(2, 3), R(2, 4), R(12, 3), R(8, 4)), ValueError,
     r"weight_hh: expected shape \(12, 4\) \[3 \* hidden_size, hidden_size\], got \(8, 4\)"),
    ("qkv.rnn.gru_cell", lambda: gru_cell(R(2, 3), R(2, 4), R(12, 3), R(12, 4), R(12).double()), TypeError,
     r"bias_ih: expected dtype torch\.float32 \(the dtype of weight_hh\), got torch\.float64"),
    ("qkv.rnn.RNNCell", lambda: RNNCell(3, 4, nonlinearity="sigmoid"), ValueError,
     r"nonlinearity: expected one of 'tanh', 'relu', got 'sigmoid'"),
    ("qkv.rnn.RNNCell.forward", lambda: RNNCell(3, 4)(R(2, 3).double()), TypeError,
     r"x: expected dtype torch\.float32 \(the dtype of the module's weights\), got torch\.float64"),
    ("qkv.rnn.LSTMCell", lambda: LSTMCell(3, 0), ValueError, r"hidden_size: expected a positive integer, got 0"),
    ("qkv.rnn.LSTMCell.forward", lambda: LSTMCell(3, 4)(R(2, 3), (R(2, 4), R(1, 4))), ValueError,
     r"c: expected shape \(2, 4\) \[batch of x, hidden_size\], got \(1, 4\)"),
    ("qkv.rnn.GRUCell", lambda: GRUCell(3, 4, bias="no"), TypeError, r"bias: expected a bool, got str 'no'"),
    ("qkv.rnn.GRUCell.forward", lambda: GRUCell(3, 4)(R(2, 3), R(2, 4, dtype=F64)), TypeError,
     r"h: expected dtype torch\.float32 \(the dtype of the module's weights\), got torch\.float64"),
    ("qkv.rnn.RNN", lambda: RNN(3, 4, nonlinearity="gelu"), ValueError,
     r"nonlinearity: expected one of 'tanh', 'relu', got 'gelu'"),
    ("qkv.rnn.RNN.forward", lambda: RNN(3, 4)(R(2, 5, 3), R(1, 3, 4)), ValueError,
     r"h0: expected shape \(1, 2, 4\) \[num_layers, batch of x, hidden_size\], got \(1, 3, 4\)"),
    ("qkv.rnn.RNN.step", lambda: RNN(3, 4).step(R(2, 3), R(2, 5), 0), ValueError,
     r"h: expected shape \(2, 4\) \[batch of x, hidden_size\], got \(2, 5\)"),
    ("qkv.rnn.GRU", lambda: GRU(3, 4, dropout=-0.1), ValueError, r"dropout: expected a probability in \[0, 1\), got -0\.1"),  # noqa: E501
    ("qkv.rnn.GRU.forward", lambda: GRU(3, 4)(R(2, 0, 3)), ValueError,
     r"x: expected a non-empty sequence, got length 0 in shape \(2, 0, 3\)"),
    ("qkv.rnn.GRU.step", lambda: GRU(3, 4).step(R(2, 3), R(2, 4), layer=0).sum() + GRU(3, 4).step(R(2, 2), R(2, 4), 0),
     ValueError, r"x: expected last dimension of size 3 \(input_size, the columns of weight_ih\), got shape \(2, 2\)"),
    ("qkv.rnn.LSTM", lambda: LSTM(3, 4, num_layers=0), ValueError, r"num_layers: expected a positive integer, got 0"),
    ("qkv.rnn.LSTM.forward", lambda: LSTM(3, 4)(R(2, 5, 3), (R(1, 2, 4), R(1, 1, 4))), ValueError,
     r"c0: expected shape \(1, 2, 4\) \[num_layers, batch of x, hidden_size\], got \(1, 1, 4\)"),
    ("qkv.rnn.LSTM.forward", lambda: LSTM(3, 4)(R(2, 5, 3), R(1, 2, 4)), TypeError,
     r"state: expected a pair \(h0, c0\), each \[num_layers, B, H\], got Tensor"),
    ("qkv.rnn.LSTM.step", lambda: LSTM(3, 4).step(R(2, 3), R(2, 4), 0), TypeError, r"state: expected a pair"),
    # --- transformer
    ("qkv.transformer.PositionwiseFeedForward", lambda: PositionwiseFeedForward(4, 0), ValueError,
     r"d_ff: expected a positive integer, got 0"),
    ("qkv.transformer.PositionwiseFeedForward.forward", lambda: PositionwiseFeedForward(4, 8)(x3.half()), TypeError,
     r"x: expected dtype torch\.float32 \(the dtype of the module's weights\), got torch\.float16"),
    ("qkv.transformer.TokenEmbedding", lambda: TokenEmbedding(0, 4), ValueError,
     r"vocab_size: expected a positive integer, got 0"),
    ("qkv.transformer.TokenEmbedding.forward", lambda: TokenEmbedding(3, 4)(tok), ValueError,
     r"tokens: expected ids in \[0, vocab_size=3\), got ids from 1 to 3"),
    ("qkv.transformer.EncoderLayer", lambda: EncoderLayer(4, 2, 8, norm_first="yes"), TypeError,
     r"norm_first: expected a bool, got str 'yes'"),
    ("qkv.transformer.EncoderLayer", lambda: EncoderLayer(4, 2, 8, norm="batch"), ValueError,
     r"norm: expected one of 'layer', 'rms', got 'batch'"),
    ("qkv.transformer.EncoderLayer", lambda: EncoderLayer(4, 2, 8, norm=None), ValueError,
     r"norm: expected one of 'layer', 'rms', got None"),
    ("qkv.transformer.EncoderLayer.forward", lambda: EncoderLayer(4, 2, 8)(x3, ones(3, 2)), ValueError,
     r"mask: shape \(3, 2\) does not broadcast to scores of shape \(2, 2, 3, 3\)"),
    ("qkv.transformer.EncoderLayer.from_torch", lambda: EncoderLayer.from_torch(nn.Linear(2, 2)), TypeError,
     r"layer: expected a torch\.nn\.TransformerEncoderLayer, got Linear"),
    ("qkv.transformer.DecoderLayer", lambda: DecoderLayer(4, 2, 8, layer_norm_eps=None), TypeError,
     r"layer_norm_eps: expected a number, got NoneType None"),
    ("qkv.transformer.DecoderLayer.forward", lambda: DecoderLayer(4, 2, 8)(x3, x3, tgt_mask=ones(2, 2)), ValueError,
     r"tgt_mask: shape \(2, 2\) does not broadcast to scores of shape \(2, 2, 3, 3\)"),
    ("qkv.transformer.DecoderLayer.forward", lambda: DecoderLayer(4, 2, 8)(x3, R(1, 5, 4)), ValueError,
     r"memory: expected dimension 0 of size 2 \(the batch size of x\), got shape \(1, 5, 4\)"),
    ("qkv.transformer.DecoderLayer.from_torch", lambda: DecoderLayer.from_torch(nn.TransformerEncoderLayer(4, 2)),
     TypeError, r"layer: expected a torch\.nn\.TransformerDecoderLayer, got TransformerEncoderLayer"),
    ("qkv.transformer.Encoder", lambda: Encoder(4, 2, 8, num_layers=0), ValueError,
     r"num_layers: expected a positive integer, got 0"),
    ("qkv.transformer.Encoder", lambda: Encoder(4, 2, 8, norm="RMS"), ValueError,
     r"norm: expected one of 'layer', 'rms', got 'RMS'"),
    ("qkv.transformer.Encoder.forward", lambda: Encoder(4, 2, 8, 1)(x3, ones(2, 2, 2, 2, 2)), ValueError,
     r"mask: shape \(2, 2, 2, 2, 2\) does not broadcast to scores of shape \(2, 2, 3, 3\)"),
    ("qkv.transformer.Decoder", lambda: Decoder(4, 2, 8, activation="swish"), ValueError,
     r"activation: expected one of 'relu', 'gelu', got 'swish'"),
    ("qkv.transformer.Decoder.forward", lambda: Decoder(4, 2, 8, 1)(x3, x3, memory_mask=ones(4)), ValueError,
     r"memory_mask: shape \(4,\) does not broadcast to scores of shape \(2, 2, 3, 3\)"),
    ("qkv.transformer.Transformer", lambda: Transformer(5, 5, d_model=4, num_heads=2, d_ff=0), ValueError,
     r"d_ff: expected a positive integer, got 0"),
    ("qkv.transformer.Transformer", lambda: Transformer(5, 5, d_model=4, num_heads=2, tie_weights=1), TypeError,
     r"tie_weights: expected a bool, got int 1"),
    ("qkv.transformer.Transformer.forward", lambda: tiny()(tok, tok, src_mask=ones(2, 1, 1, 3)), ValueError,
     r"src_mask: shape \(2, 1, 1, 3\) does not broadcast to scores of shape \(1, 2, 3, 3\)"),
    ("qkv.transformer.Transformer.forward", lambda: tiny()(tok, tok, tgt_mask=ones(1, 1, 1, 2)), ValueError,
     r"tgt_mask: shape \(1, 1, 1, 2\) does not broadcast to scores of shape \(1, 2, 3, 3\)"),
    ("qkv.transformer.Transformer.forward", lambda: tiny()(tok, tok.expand(2, 3)), ValueError,
     r"tgt: expected dimension 0 of size 1 \(the batch size of src\), got shape \(2, 3\)"),
    ("qkv.transformer.Transformer.encode", lambda: tiny().encode(tok.float()), TypeError,
     r"src: expected an integer tensor, got torch\.float32"),
    ("qkv.transformer.Transformer.decode", lambda: tiny().decode(tok, R(1, 3, 4), src_mask=ones(1, 1, 1, 4)), ValueError,  # noqa: E501
     r"src_mask: shape \(1, 1, 1, 4\) does not broadcast to scores of shape \(1, 2, 3, 3\)"),
    ("qkv.transformer.noam_lr", lambda: noam_lr(10, 512, warmup=-4000), ValueError,
     r"warmup: expected a positive integer, got -4000"),
    ("qkv.transformer.noam_lr", lambda: noam_lr(10, "512"), TypeError, r"d_model: expected a positive integer, got str"),  # noqa: E501
    ("qkv.transformer.noam_scheduler", lambda: noam_scheduler(torch.optim.SGD([R(1, requires_grad=True)]), 512, -1),
     ValueError, r"warmup: expected a positive integer, got -1"),
    ("qkv.transformer.noam_scheduler", lambda: noam_scheduler("adam", 512), TypeError,
     r"optimizer: expected a torch\.optim\.Optimizer, got str"),
    ("qkv.transformer.greedy_decode", lambda: greedy_decode(tiny(), tok, 4, bos_id=7, eos_id=1), ValueError,
     r"bos_id: expected an int in \[0, 4\], got 7"),
    ("qkv.transformer.greedy_decode", lambda: greedy_decode(nn.Linear(2, 2), tok, 4, 0, 1), TypeError,
     r"model: expected a qkv\.transformer\.Transformer, got Linear"),
    ("qkv.transformer.beam_search", lambda: beam_search(tiny(), tok, 2, 4, bos_id=0, eos_id=-1), ValueError,
     r"eos_id: expected an int in \[0, 4\], got -1"),
    ("qkv.transformer.beam_search", lambda: beam_search(tiny(), tok, 2, 4, 0, 1, length_penalty="0.6"), TypeError,
     r"length_penalty: expected a number, got str '0\.6'"),
    ("qkv.transformer.DecoderLayer.forward", lambda: DecoderLayer(4, 2, 8)(x3, x3, cache=KVCache(1)), TypeError,
     r"cache: expected a qkv\.kv_cache\.LayerCache, got KVCache"),
    ("qkv.transformer.Decoder.forward", lambda: Decoder(4, 2, 8, 2)(x3, x3, cache=KVCache(1)), ValueError,
     r"cache: expected 2 layers \(one per decoder layer\), got 1"),
    ("qkv.transformer.Transformer.decode", lambda: tiny().decode(tok, R(1, 3, 4), cache=LayerCache()), TypeError,
     r"cache: expected a qkv\.kv_cache\.KVCache, got LayerCache"),
    ("qkv.transformer.greedy_decode", lambda: greedy_decode(tiny(), tok, 4, 0, 1, use_cache=1), TypeError,
     r"use_cache: expected a bool, got int 1"),
    ("qkv.transformer.beam_search", lambda: beam_search(tiny(), tok, 2, 4, 0, 1, use_cache="yes"), TypeError,
     r"use_cache: expected a bool, got str 'yes'"),
    # --- kv_cache
    ("qkv.kv_cache.KVCache", lambda: KVCache(0), ValueError, r"num_layers: expected a positive integer, got 0"),
    ("qkv.kv_cache.KVCache.reorder", lambda: KVCache(1).reorder(torch.tensor([0.0])), TypeError,
     r"index: expected an integer tensor, got torch\.float32"),
    ("qkv.kv_cache.LayerCache.reorder", lambda: LayerCache().reorder(torch.tensor([[0]])), ValueError,
     r"index: expected 1 dimensions? \[new batch\]"),
    ("qkv.kv_cache.LayerCache.self_attention", lambda: LayerCache().self_attention(nn.Linear(4, 4), x3), TypeError,
     r"mha: expected a qkv\.attention\.MultiHeadAttention, got Linear"),
    ("qkv.kv_cache.LayerCache.self_attention",
     lambda: LayerCache().self_attention(MultiHeadAttention(4, 2), R(2, 3, 6)), ValueError,
     r"x: expected last dimension of size 4 \(d_model\), got shape \(2, 3, 6\)"),
    ("qkv.kv_cache.LayerCache.self_attention",
     lambda: LayerCache().self_attention(MultiHeadAttention(4, 2), x3, mask=ones(3, 4)), ValueError,
     r"mask: shape \(3, 4\) does not broadcast to scores of shape \(2, 2, 3, 3\)"),
    ("qkv.kv_cache.LayerCache.cross_attention",
     lambda: LayerCache().cross_attention(MultiHeadAttention(4, 2), x3, R(1, 5, 4)), ValueError,
     r"memory: expected dimension 0 of size 2 \(the batch size of x\), got shape \(1, 5, 4\)"),
    # --- heads, softmax, saturation
    ("qkv.heads.offset_score", lambda: offset_score(torch.eye(3), 3), ValueError,
     r"offset: expected \|offset\| < T = 3 \(the map's length\), got 3"),
    ("qkv.heads.key_mass", lambda: key_mass(torch.eye(3), [0, 3]), ValueError,
     r"positions: expected positions in \[-3, 3\) for T = 3, got 3"),
    ("qkv.heads.attention_entropy", lambda: attention_entropy(torch.eye(3), normalize=1), TypeError,
     r"normalize: expected a bool, got int 1"),
    ("qkv.heads.profile_heads", lambda: profile_heads([R(1, 2, 3, 3), R(1, 3, 4, 4)]), ValueError,
     r"maps\[1\]: expected \(1, 2\) layers and heads \(as maps\[0\]\), got shape \(1, 3, 4, 4\)"),
    ("qkv.heads.best_head", lambda: best_head(torch.tensor([[0.1, float("nan")]])), ValueError,
     r"scores: expected no NaN, got NaN at index \(0, 1\) of shape \(1, 2\)"),
    ("qkv.softmax.softmax_jacobian", lambda: softmax_jacobian(torch.tensor(0.5)), ValueError,
     r"p: expected at least 1 dimensions \[\.\.\., n\], got shape \(\)"),
    ("qkv.softmax.softmax_entropy", lambda: softmax_entropy(ones(3, dtype=LONG)), TypeError,
     r"p: expected a floating-point tensor, got torch\.int64"),
    ("qkv.softmax.jacobian_max_abs", lambda: jacobian_max_abs(R(2, 0)), ValueError,
     r"p: expected at least one probability, got an empty last dimension in shape \(2, 0\)"),
    ("qkv.saturation.sample_query_keys", lambda: sample_query_keys("0"), TypeError, r"seed: expected an int, got str '0'"),  # noqa: E501
    ("qkv.saturation.saturation", lambda: saturation(2048, 4), ValueError, r"d_k: expected at most 1024, got 2048"),
    ("qkv.saturation.saturation", lambda: saturation(64, 4, scaled="yes"), TypeError,
     r"scaled: expected a bool, got str 'yes'"),
    # --- tasks, toy models, training
    ("qkv.tasks.previous_token_batch", lambda: previous_token_batch(G(), ring="no"), TypeError,
     r"ring: expected a bool, got str 'no'"),
    ("qkv.tasks.key_value_lookup_batch", lambda: key_value_lookup_batch(G(), num_pairs=20, num_symbols=16), ValueError,
     r"num_pairs: expected at most num_symbols = 16 \(keys are distinct\), got 20"),
    ("qkv.tasks.first_and_previous_batch", lambda: first_and_previous_batch(0), TypeError,
     r"generator: expected a torch\.Generator, got int"),
    ("qkv.tasks.first_minus_previous_batch", lambda: first_minus_previous_batch(G(), seq_len=2), ValueError,
     r"seq_len: expected at least 3 positions"),
    ("qkv.toy_models.OneLayerAttention", lambda: OneLayerAttention(10, 6, score="cosine"), ValueError,
     r"score: expected one of 'dot', 'shared', 'additive', got 'cosine'"),
    ("qkv.toy_models.OneLayerAttention.forward", lambda: OneLayerAttention(10, 2)(tok), ValueError,
     r"tokens: expected a length from 1 to 2 \(seq_len\), got shape \(1, 3\)"),
    ("qkv.toy_models.LookupAttention", lambda: LookupAttention(16, 8, scaled=1), TypeError,
     r"scaled: expected a bool, got int 1"),
    ("qkv.toy_models.LookupAttention.forward", lambda: LookupAttention(16, 8, d_k=8)((tok, tok, tok)), ValueError,
     r"query: expected shape \(1, 1\) \[batch, 1\], got \(1, 3\)"),
    ("qkv.toy_models.MultiHeadReader", lambda: MultiHeadReader(10, 8, d_hidden=0), ValueError,
     r"d_hidden: expected a positive integer, got 0"),
    ("qkv.toy_models.MultiHeadReader.forward", lambda: MultiHeadReader(None, 8)(tok), TypeError,
     r"inputs: expected a floating-point tensor, got torch\.int64"),
    ("qkv.toy_models.MultiHeadReader.embed", lambda: MultiHeadReader(10, 2).embed(tok), ValueError,
     r"inputs: sequence length 3 is longer than the positional table \(max_len=2\)"),
    ("qkv.train.fit", lambda: fit(nn.Linear(2, 1), batch, mse, steps=-3), ValueError,
     r"steps: expected a positive integer, got -3"),
    ("qkv.train.fit", lambda: fit(nn.Linear(2, 1), batch, mse, steps=2, lr="0.1"), TypeError,
     r"lr: expected a number, got str '0\.1'"),
    ("qkv.train.fit", lambda: fit(nn.Linear(2, 1), batch, mse, steps=2, warmup=-1), ValueError,
     r"warmup: expected an int >= 0, got -1"),
    ("qkv.train.fit", lambda: fit(nn.Linear(2, 1), batch, mse, steps=2, warmup=2.5), TypeError,
     r"warmup: expected an int"),
    ("qkv.train.fit", lambda: fit(nn.Linear(2, 1), "batch", mse), TypeError, r"batch_fn: expected a function, got str"),
    ("qkv.train.shifted_cross_entropy", lambda: shifted_cross_entropy(uniform, tok, tok[:, :1]), ValueError,
     r"tgt: expected at least 2 tokens \(a start token and one to predict\), got 1"),
    ("qkv.train.shifted_cross_entropy", lambda: shifted_cross_entropy(uniform, tok, tok.float()), TypeError,
     r"tgt: expected an integer tensor, got torch\.float32"),
    ("qkv.train.shifted_cross_entropy", lambda: shifted_cross_entropy("model", tok, tok), TypeError,
     r"model: expected a callable model\(src, tgt_in\) -> logits, got str"),
    ("qkv.bugs.enabled", lambda: bugs.enabled("no-such-bug").__enter__(), ValueError, r"name: expected one of \["),
    ("qkv.bugs.buggy_source", lambda: bugs.buggy_source(3), ValueError, r"name: expected one of \[.*got 3"),
    ("qkv.bugs.diff", lambda: bugs.diff("softmax"), ValueError, r"name: expected one of \[.*got 'softmax'"),
    ("qkv.train.token_cross_entropy", lambda: token_cross_entropy(uniform, tok, tok.float()), TypeError,
     r"targets: expected an integer tensor, got torch\.float32"),
    ("qkv.train.token_accuracy", lambda: token_accuracy(wrong_logits, tok, tok), ValueError,
     r"logits: expected shape \[\*targets\.shape, classes\] with targets of shape \(1, 3\), got \(1, 3\)"),
    ("qkv.train.masked_mse", lambda: masked_mse(real, R(2, 3), R(2, 4)), ValueError,
     r"predictions: expected shape \[\*targets\.shape\] with targets of shape \(2, 4\), got \(2, 3\)"),
    ("qkv.train.within_tolerance", lambda: within_tolerance(real, R(2, 3), R(2, 3), tolerance=0), ValueError,
     r"tolerance: expected a number > 0\.0, got 0\.0"),
    # --- data: word vectors, pretrained, data packages
    ("qkv.wordvectors.WordVectors", lambda: WordVectors(["a", "b"], [[0.0], [1.0]]), TypeError,
     r"vectors: expected a torch\.Tensor, got list"),
    ("qkv.wordvectors.WordVectors", lambda: WordVectors(["a", 2], torch.eye(2)), TypeError,
     r"words\[1\]: expected a str, got int 2"),
    ("qkv.wordvectors.WordVectors.id", lambda: wv().id(3), TypeError, r"word: expected a str, got int 3"),
    ("qkv.wordvectors.WordVectors.similarity", lambda: wv().similarity("up", None), TypeError,
     r"b: expected a str, got NoneType None"),
    ("qkv.wordvectors.WordVectors.cosines", lambda: wv().cosines(torch.zeros(3)), ValueError,
     r"query: expected shape \(2,\) \[D\], got \(3,\)"),
    ("qkv.wordvectors.WordVectors.nearest", lambda: wv().nearest("up", k=0), ValueError, r"k: expected an int >= 1, got 0"),  # noqa: E501
    ("qkv.wordvectors.WordVectors.analogy", lambda: wv().analogy("up", "down", "up", k="1"), TypeError,
     r"k: expected an int, got str '1'"),
    ("qkv.wordvectors.load_glove", lambda: load_glove(top_n=0), ValueError, r"top_n: expected an int in \[1, 400000\], got 0"),  # noqa: E501
    ("qkv.datapackages.package_data_dir", lambda: package_data_dir(None, "data", "pip install x"), TypeError,
     r"module: expected a str, got NoneType None"),
    ("qkv.datapackages.require_module", lambda: require_module(3, "pip install x"), TypeError,
     r"module: expected a str, got int 3"),
    ("qkv.datapackages.DataPackageNotFoundError", lambda: package_data_dir("no_such_pkg_qkv", "d", "pip install q"),
     ModuleNotFoundError, r"the data package 'no_such_pkg_qkv' is not installed; install it with: pip install q"),
    ("qkv.pretrained.BertConfig", lambda: BertConfig(hidden_size=0), ValueError,
     r"hidden_size: expected a positive integer, got 0"),
    ("qkv.pretrained.BertConfig.from_dict", lambda: BertConfig.from_dict({"hidden_act": "relu"}), ValueError,
     r"hidden_act must be 'gelu'"),
    ("qkv.pretrained.BertEmbeddings", lambda: BertEmbeddings({"hidden_size": 8}), TypeError,
     r"config: expected a qkv\.pretrained\.BertConfig, got dict"),
    ("qkv.pretrained.BertEmbeddings.forward", lambda: BertEmbeddings(small_bert())(tok, tok), ValueError,
     r"token_type_ids: expected ids in \[0, vocab_size=2\), got ids from 1 to 3"),
    ("qkv.pretrained.BertEncoder", lambda: BertEncoder(None), TypeError,
     r"config: expected a qkv\.pretrained\.BertConfig, got NoneType"),
    ("qkv.pretrained.BertEncoder.forward", lambda: BertEncoder(small_bert())(tok.expand(2, 3), torch.tensor([3])),
     ValueError, r"lengths: expected shape \(2,\) \[batch of input_ids\], got \(1,\)"),
    ("qkv.pretrained.bert_weight_names", lambda: bert_weight_names(-1), ValueError,
     r"num_layers: expected an int >= 0, got -1"),
    ("qkv.pretrained.load_bert_weights", lambda: load_bert_weights(nn.Linear(2, 2), "x.safetensors"), TypeError,
     r"model: expected a qkv\.pretrained\.BertEncoder, got Linear"),
    ("qkv.pretrained.MiniLM", lambda: MiniLM(None, nn.Linear(2, 2)), TypeError,
     r"encoder: expected a qkv\.pretrained\.BertEncoder, got Linear"),
    ("qkv.pretrained.MiniLM.encode", lambda: load_minilm().encode("hi", batch_size=0), ValueError,
     r"batch_size: expected an int >= 1, got 0"),
    ("qkv.pretrained.MiniLM.tokenize", lambda: load_minilm().tokenize(3), TypeError,
     r"sentence: expected a str, got int 3"),
    ("qkv.pretrained.MiniLM.similarity", lambda: load_minilm().similarity("a", None), TypeError,
     r"b: expected a str, got NoneType None"),
    ("qkv.pretrained.MiniLM.run_batch", lambda: load_minilm().run_batch([]), ValueError,
     r"sentences: expected at least one sentence, got an empty list"),
    ("qkv.pretrained.MiniLM.run", lambda: load_minilm().run(["a"]), TypeError,
     r"sentence: expected a str, got list \['a'\]"),
    ("qkv.pretrained.MiniLM.attentions", lambda: load_minilm().attentions(None), TypeError,
     r"sentence: expected a str, got NoneType None"),
    ("qkv.pretrained.MiniLM.cross_attentions", lambda: load_minilm().cross_attentions("a", 3), TypeError,
     r"key_sentence: expected a str, got int 3"),
    ("qkv.positional.RelativePositionEmbedding", lambda: qkv.positional.RelativePositionEmbedding(0), ValueError,
     r"head_dim: expected a positive integer, got 0"),
    ("qkv.positional.RelativePositionEmbedding.forward", lambda: qkv.positional.RelativePositionEmbedding(4)(0, 3),
     ValueError, r"q_len: expected a positive integer, got 0"),
    ("qkv.positional.RelativePositionEmbedding.score_bias",
     lambda: qkv.positional.RelativePositionEmbedding(4).score_bias(torch.zeros(2, 3, 5), 3), ValueError,
     r"query: expected last dimension of size 4 \(head_dim\), got shape \(2, 3, 5\)"),
    ("qkv.tasks.copy_back_batch", lambda: qkv.tasks.copy_back_batch(None), TypeError,
     r"generator: expected a torch.Generator, got NoneType"),
    ("qkv.tasks.token_at_batch", lambda: qkv.tasks.token_at_batch(torch.Generator(), position=-1), ValueError,
     r"position: expected an int >= 0, got -1"),
    ("qkv.toy_models.PositionalReader", lambda: qkv.toy_models.PositionalReader(10, "bogus"), ValueError,
     r"positional: expected one of 'none', 'sinusoidal'"),
    ("qkv.toy_models.PositionalReader.forward",
     lambda: qkv.toy_models.PositionalReader(10, "rope")(torch.zeros(2, 3)), TypeError,
     r"tokens: expected an integer tensor, got torch.float32"),
    ("qkv.toy_models.DeepEncoder", lambda: DeepEncoder(10, d_model=6, num_heads=4), ValueError,
     r"d_model: expected a multiple of 4 \(num_heads\), got 6"),
    ("qkv.toy_models.DeepEncoder", lambda: DeepEncoder(10, norm="batch"), ValueError,
     r"norm: expected one of 'layer', 'rms', got 'batch'"),
    ("qkv.toy_models.DeepEncoder", lambda: DeepEncoder(10, norm_first=1), TypeError,
     r"norm_first: expected a bool, got int 1"),
    ("qkv.toy_models.DeepEncoder", lambda: DeepEncoder(10, num_layers=0), ValueError,
     r"num_layers: expected a positive integer, got 0"),
    ("qkv.toy_models.DeepEncoder.forward", lambda: DeepEncoder(2, d_model=4, num_heads=2)(tok), ValueError,
     r"tokens: expected ids in \[0, vocab_size=2\), got ids from 1 to 3"),
    ("qkv.toy_models.DeepEncoder.forward", lambda: DeepEncoder(10, d_model=4, num_heads=2)(torch.zeros(2, 3)),
     TypeError, r"tokens: expected an integer tensor, got torch\.float32"),
    ("qkv.pretrained.load_minilm", lambda: load_minilm(1), TypeError, r"load_minilm\(\) takes 0 positional arguments"),
    # --- chapter 8: recall task, recurrent reader, recurrence
    ("qkv.tasks.recall_batch", lambda: qkv.tasks.recall_batch(torch.Generator(), distance=0), ValueError,
     r"distance: expected a positive integer, got 0"),
    ("qkv.tasks.recall_vocab_size", lambda: qkv.tasks.recall_vocab_size(8, 0), ValueError,
     r"num_noise: expected a positive integer, got 0"),
    # --- chapter 9: the reversal task
    ("qkv.tasks.reversal_batch", lambda: qkv.tasks.reversal_batch(torch.Generator(), seq_len=0), ValueError,
     r"seq_len: expected a positive integer, got 0"),
    ("qkv.toy_models.RecurrentReader", lambda: qkv.toy_models.RecurrentReader(10, "transformer"), ValueError,
     r"cell: expected one of 'rnn', 'lstm', 'gru'"),
    ("qkv.toy_models.RecurrentReader.forward", lambda: qkv.toy_models.RecurrentReader(10)(torch.full((2, 3), 10)),
     ValueError, r"tokens: expected ids in \[0, vocab_size=10\), got ids from 10 to 10"),
    ("qkv.recurrence.elu_feature_map", lambda: qkv.recurrence.elu_feature_map(torch.ones(2, dtype=torch.long)),
     TypeError, r"x: expected a floating-point tensor, got torch.int64"),
    ("qkv.recurrence.linear_attention", lambda: qkv.recurrence.linear_attention(R(2, 5, 4), R(2, 5, 3), R(2, 5, 3)),
     ValueError, r"key: expected the shape of query \(2, 5, 4\) \[..., T, d_k\], got \(2, 5, 3\)"),
    ("qkv.recurrence.linear_attention_step",
     lambda: qkv.recurrence.linear_attention_step(R(4), R(4), R(2), (torch.zeros(4, 3), torch.zeros(4))),
     ValueError, r"S: expected shape \(4, 2\) \[..., d_k, d_v\], got \(4, 3\)"),
    ("qkv.recurrence.linear_attention_recurrent",
     lambda: qkv.recurrence.linear_attention_recurrent(R(2, 5, 4), R(2, 5, 4), R(2, 4, 3)), ValueError,
     r"value: expected the leading shape of key \(2, 5\) \[..., T\], got shape \(2, 4, 3\)"),
    ("qkv.recurrence.linear_recurrence_loop", lambda: qkv.recurrence.linear_recurrence_loop(R(2, 5, 3), R(2, 5, 4)),
     ValueError, r"a: expected the shape of b \(2, 5, 4\) \[..., T, d\], got \(2, 5, 3\)"),
    ("qkv.recurrence.linear_recurrence_scan",
     lambda: qkv.recurrence.linear_recurrence_scan(R(2, 5, 4), R(2, 5, 4), R(2, 5)), ValueError,
     r"h0: expected shape \(2, 4\) \[..., d\], b without its T axis, got \(2, 5\)"),
    ("qkv.recurrence.scan_rounds", lambda: qkv.recurrence.scan_rounds(0), ValueError,
     r"length: expected a positive integer, got 0"),
]

# Public callables with no argument to check, and why.
EXEMPT = {
    "qkv.bugs.Bug": "a frozen record of the bug registry, written in qkv.bugs; enabled() checks its edits",
    "qkv.bugs.BugDetached": "an exception, raised when a bug's edit no longer matches its target's source",
    "qkv.saturation.Saturation": "a frozen record that saturation() fills in; built by hand it checks nothing",
    "qkv.pretrained.SentenceOutput": "a record that MiniLM.run_batch() fills in",
    "qkv.kv_cache.LayerCache": "takes no arguments: an empty cache that self_attention() and cross_attention() fill",
}
SKIP_MODULES = ("qkv.widgets", "qkv.plotting", "qkv.source")


def public_callables():
    """Every public function and class of qkv (and the public methods a class defines itself)."""
    for info in pkgutil.walk_packages(qkv.__path__, "qkv."):
        if info.name.startswith(SKIP_MODULES):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            obj = getattr(obj, "__wrapped__", obj)  # functools.lru_cache
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if "mutmut" in name or "\u01c1" in name:  # the trampolines of `make mutation`
                continue
            if obj.__module__ != module.__name__:
                continue
            yield f"{info.name}.{name}"
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for method, fn in vars(obj).items():
                    fn = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
                    if "mutmut" in method or "\u01c1" in method:
                        continue
                    if inspect.isfunction(fn) and (not method.startswith("_")) and method != "extra_repr":
                        yield f"{info.name}.{name}.{method}"


def test_every_public_callable_has_a_row():
    covered = {row[0] for row in ROWS}
    missing = sorted(set(public_callables()) - covered - set(EXEMPT))
    assert not missing, f"public callables without a bad-input row: {missing}"
    assert len(covered) > 150


@pytest.mark.parametrize("target, call, error, pattern", ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)])
def test_bad_input(target, call, error, pattern):
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error or error is ModuleNotFoundError, type(info.value)
    assert re.match(pattern, str(info.value)), f"{target}: {str(info.value)!r} does not match {pattern!r}"


def test_valid_values_pass_the_checks():
    """The other side of each row: what is right is let through (kills mutants that raise too often)."""
    checks.check_no_nan("s", torch.tensor([0.0, float("inf")]))
    checks.check_no_nan("s", torch.tensor([1, 2]))
    assert checks.check_number("eps", 0, low=0.0) == 0.0 and checks.check_number("base", 2, low=0.0, low_open=True) == 2
    assert checks.check_probability("p", 0) == 0.0 and checks.check_positive_int("n", 3) == 3
    checks.check_mask("mask", None, (2, 2))
    checks.check_pair("state", (1, 2), "(h, c)")
    checks.check_shape("h", torch.zeros(2, 4), (2, 4), "[B, H]")
    checks.check_module_dtype("x", torch.zeros(2, dtype=torch.bfloat16), torch.float32, low_precision_ok=True)
    assert checks.check_choice("act", "relu", ("relu", "gelu")) == "relu"
