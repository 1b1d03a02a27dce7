"""qkv: the Transformer written out, one readable module per idea.

Modules
-------
attention    scaled dot-product, additive and multi-head attention
masks        padding and causal masks (boolean, True = may attend)
positional   sinusoidal, learned, rotary (RoPE), ALiBi and relative-position biases
norms        LayerNorm, BatchNorm1d and RMSNorm written out
transformer  feed-forward, encoder/decoder layers, the full Transformer, Noam schedule, decoding
kv_cache     the KV cache: incremental decoding that keeps each decoder layer's keys and values
rnn          RNN, LSTM and GRU cells and sequence modules, gate by gate
softmax      the softmax's mathematics: its Jacobian, entropy and largest Jacobian entry, for batches
saturation   the softmax-saturation experiment of chapter 3 and its widget (why divide by sqrt(d_k))
wordvectors  GloVe 6B-50d word vectors: similarity, neighbours, analogies
pretrained   the all-MiniLM-L6-v2 encoder run in qkv's own layers: attention maps, embeddings
datapackages finding the installed data packages (GloVe, MiniLM), and what to install if missing
heads        measuring what attention heads do (previous token, [CLS], broad, ...)
tasks        the toy tasks: seeded sequences and their targets (token targets, real-valued targets)
toy_models   the small models the chapters train on those tasks
train        a small training loop with progress lines, and the losses and accuracies it trains with
bugs         classic attention bugs as switches on qkv's own code (the appendix's bug gallery)
checks       argument checks, one per kind (tensors, shapes, flags, ints, ...), one message style
plotting     the book's figure style and the few figure kinds it repeats; the palette in palette.json
source       shows a function's teaching lines: docstring cut to its first line, argument checks left out
widgets      the book's interactive figures (anywidget), live and in the static book

Where a new chapter's code goes: its task in ``tasks``, its model in ``toy_models``, a new loss or
accuracy in ``train``, a new layer in the module of its idea (a positional encoding in ``positional``).
"""

__version__ = "0.1.0"
