"""qkv: the Transformer written out, one readable module per idea.

Modules
-------
attention   scaled dot-product, additive and multi-head attention
masks       padding and causal masks (boolean, True = may attend)
positional  sinusoidal, learned, rotary (RoPE), ALiBi and relative-position biases
norms       LayerNorm, BatchNorm1d and RMSNorm written out
transformer feed-forward, encoder/decoder layers, the full Transformer, Noam schedule, decoding
rnn         RNN, LSTM and GRU cells and sequence modules, gate by gate
wordvectors GloVe 6B-50d word vectors: similarity, neighbours, analogies
pretrained  the all-MiniLM-L6-v2 encoder run in qkv's own layers: attention maps, embeddings
heads       measuring what attention heads do (previous token, [CLS], broad, ...)
tasks       the toy tasks the chapters train tiny models on
train       a small training loop with progress lines
softmax     softmax saturation: largest weight, entropy, the Jacobian (chapter 3, widget 1)
widgets     the book's interactive figures (anywidget), live and in the static book
"""

__version__ = "0.1.0"
