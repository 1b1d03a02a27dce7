"""The Python side of qkv.widgets: the data each widget ships, its size, and bad input.

What the browser does with the data is tested against the built book in tests/browser/test_widgets.py.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import traitlets

from qkv.attention import masked_softmax
from qkv.masks import causal_mask, combine_masks, padding_mask
from qkv.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    alibi_bias,
    alibi_slopes,
    sinusoidal_encoding,
)
from qkv.saturation import MAX_D_K, sample_query_keys, saturation
from qkv.widgets import (
    D_K_CHOICES,
    AttentionMap,
    MaskPlayground,
    NormStatistics,
    PositionalExplorer,
    SoftmaxSaturation,
)
from qkv.widgets._common import HERE, PALETTE_JSON, from_int16_bytes, front_end, int16_bytes, palette_js, shipped
from qkv.widgets.masks import FILLS, LOGIT_SCALES, additive_masked_softmax, fill_notes, mask_table, row_table
from qkv.widgets.norms import norm_statistics
from qkv.widgets.positional import positional_payload, rope_table

PAGE_LIMIT = 500_000  # bytes of saved widget state per page


def saved_state_bytes(*widgets) -> int:
    """Size of the widget state a page embeds for these widgets (JSON, buffers in base64)."""
    from ipywidgets.embed import dependency_state, embed_data

    state = dependency_state(list(widgets), drop_defaults=False)
    return len(json.dumps(embed_data(views=list(widgets), state=state, drop_defaults=False)["manager_state"]))


def minilm_or_skip():
    from qkv.pretrained import DataPackageNotFoundError, load_minilm

    try:
        return load_minilm()
    except DataPackageNotFoundError as error:  # pragma: no cover - the book's environment has it
        pytest.skip(str(error))


# ---------------------------------------------------------------------------------------------- transport


def test_int16_transport_round_trips_and_refuses_overflow():
    x = np.array([0.5, -1.0, np.nan, 0.25])
    assert np.array_equal(from_int16_bytes(int16_bytes(x, 4), 4), x, equal_nan=True)
    with pytest.raises(ValueError, match="exceed the 16-bit range"):
        int16_bytes([1.0], 40000)
    with pytest.raises(ValueError, match="infinite"):
        int16_bytes([float("inf")], 1)
    with pytest.raises(TypeError, match="expected a tensor or an array"):
        int16_bytes([object()], 1)


def test_front_ends_are_self_contained_es_modules():
    # Each widget ships shared.js followed by its own file as one module (see test below).
    for name in ("shared", "softmax", "attention_map", "positional", "masks", "norms"):
        source = (HERE / f"{name}.js").read_text(encoding="utf-8")
        if name == "shared":
            assert not re.search(r"^\s*export\s", source, re.M), "shared.js comes first in every module: no exports"
        else:
            assert "export default { render }" in source
        assert not re.search(r"^\s*import\s", source, re.M), f"{name}.js imports a module: no external code allowed"
        assert "http://" not in source.replace("http://www.w3.org/2000/svg", "") and "https://" not in source
        assert len(source) < 16_000, f"{name}.js should stay small and readable"


def test_front_end_injects_the_palette_json_as_PALETTE():
    # The module starts with `const PALETTE = {...};`: exactly palette.json, less its comment.
    palette = json.loads(PALETTE_JSON.read_text(encoding="utf-8"))
    palette.pop("_comment")
    module = front_end("softmax")
    first, rest = module.split("\n", 1)
    match = re.fullmatch(r"const PALETTE = (\{.*\});", first)
    assert match, first[:80]
    assert json.loads(match.group(1)) == palette
    assert rest.startswith(shipped((HERE / "shared.js").read_text(encoding="utf-8")))


def test_widget_colours_come_from_the_palette():
    # No colour literal in the widgets' JavaScript but black and white ink; the CSS focus ring's
    # fallback equals PALETTE.focus (shared.js sets --qkv-focus from the palette itself).
    palette = json.loads(PALETTE_JSON.read_text(encoding="utf-8"))
    for name in ("shared", "softmax", "attention_map", "positional", "masks", "norms"):
        source = (HERE / f"{name}.js").read_text(encoding="utf-8")
        colours = set(re.findall(r"#[0-9a-fA-F]{3,8}\b", source)) - {"#000", "#fff", "#111"}
        assert not colours, f"{name}.js hard-codes {colours}: use PALETTE"
    css = (HERE / "widgets.css").read_text(encoding="utf-8")
    fallbacks = set(re.findall(r"var\(--qkv-focus, (#[0-9a-fA-F]+)\)", css))
    assert fallbacks == {palette["focus"]}, fallbacks
    assert "--qkv-focus\", PALETTE.focus" in (HERE / "shared.js").read_text(encoding="utf-8")
    assert "#e66100" not in css.lower()


@pytest.mark.parametrize(
    "widget",
    [
        lambda: SoftmaxSaturation(),
        lambda: AttentionMap(torch.full((1, 1, 2, 2), 0.5), ["a", "b"]),
        lambda: PositionalExplorer(max_len=8, d_models=(4,), d_model=4),
        lambda: MaskPlayground(lengths=(2,), max_len=2),
        lambda: NormStatistics(),
    ],
    ids=["softmax", "attention", "positional", "masks", "norms"],
)
def test_each_widget_ships_its_front_end_and_the_shared_css(widget):
    w = widget()
    name = type(w).__module__.rsplit(".", 1)[-1]
    source = (HERE / "shared.js").read_text(encoding="utf-8") + (HERE / f"{name}.js").read_text(encoding="utf-8")
    assert w._esm == palette_js() + shipped(source)  # comment lines left out
    assert w._css == shipped((HERE / "widgets.css").read_text())
    assert "jupyter-widgets" in w._dom_classes  # the class ipywidgets' own views carry


# ---------------------------------------------------------------------------------------------- widget 1


def test_softmax_widget_ships_exactly_the_vectors_of_qkv_softmax():
    w = SoftmaxSaturation(max_keys=32)
    q, k = sample_query_keys(0)
    assert len(w.q) == 2 * MAX_D_K and len(w.k) == 2 * 32 * MAX_D_K
    assert np.array_equal(from_int16_bytes(w.q, w.quantum), q.numpy())
    assert np.array_equal(from_int16_bytes(w.k, w.quantum).reshape(32, MAX_D_K), k[:32].numpy())
    assert w.d_k_choices == list(D_K_CHOICES) and D_K_CHOICES[0] == 1 and D_K_CHOICES[-1] == 1024
    assert w.payload_bytes == 2 * 33 * MAX_D_K


def test_softmax_widget_stats_follow_its_traits():
    w = SoftmaxSaturation(d_k=8, num_keys=4, seed=2)
    w.d_k, w.num_keys, w.scaled = 1024, 32, False
    s = w.stats()
    expected = saturation(1024, 32, scaled=False, seed=2)
    assert (s.max_prob, s.entropy, s.jacobian_max) == (expected.max_prob, expected.entropy, expected.jacobian_max)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"d_k": 5}, ValueError, "d_k: expected one of"),
        ({"d_k": True}, ValueError, "d_k"),
        ({"num_keys": 0}, ValueError, r"num_keys: expected an int in \[1, 32\]"),
        ({"num_keys": 33}, ValueError, "num_keys"),
        ({"max_keys": 65}, ValueError, "max_keys"),
        ({"scaled": 1}, TypeError, "scaled: expected a bool"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_softmax_widget_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SoftmaxSaturation(**kwargs)


def test_softmax_widget_rejects_bad_trait_values():
    w = SoftmaxSaturation()
    with pytest.raises(traitlets.TraitError, match="d_k"):
        w.d_k = 100
    with pytest.raises(traitlets.TraitError, match="num_keys"):
        w.num_keys = 33


# ---------------------------------------------------------------------------------------------- widget 2


def test_attention_map_accepts_cross_attention_and_smaller_tensors():
    torch.manual_seed(0)
    cross = torch.softmax(torch.randn(2, 4, 3, 5), -1)
    w = AttentionMap([cross, torch.softmax(torch.randn(3, 3), -1)], [["je", "suis", "là"], ["a", "b", "c"]],
                     [["I", "am", "here", "now", "."], ["a", "b", "c"]], labels=["fr → en", "toy"])
    first, second = w.examples
    assert (first["layers"], first["heads"], first["offset"]) == (2, 4, 0)
    assert (second["layers"], second["heads"], second["offset"]) == (1, 1, cross.numel())
    assert first["key_tokens"] == ["I", "am", "here", "now", "."] and second["label"] == "toy"
    assert w.payload_bytes == 2 * (cross.numel() + 9)
    w.layer, w.head = 1, 2
    np.testing.assert_allclose(w.shown(), cross[1, 2].numpy(), atol=0.5 / 32767)
    w.head = -1
    np.testing.assert_allclose(w.shown(), cross[1].mean(0).numpy(), atol=0.5 / 32767)
    w.example = 1  # the selection follows: that example has one layer and one head
    assert (w.layer, w.head) == (0, -1)


def test_attention_map_set_data_replaces_the_examples():
    w = AttentionMap(torch.full((2, 2), 0.5), ["a", "b"])
    w.set_data(torch.full((3, 2, 4, 4), 0.25), list("wxyz"))
    assert w.examples[0]["layers"] == 3 and w.examples[0]["query_tokens"] == list("wxyz")
    assert w.examples[0]["key_tokens"] == list("wxyz")  # self-attention by default


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((torch.full((2, 3), 0.5), ["a", "b"]), {}, ValueError, r"does not match 2 query tokens and 2 key tokens"),
        ((torch.full((2, 2), -0.1), ["a", "b"]), {}, ValueError, r"in \[0, 1\]"),
        ((torch.full((2, 2), 3.0), ["a", "b"]), {}, ValueError, r"in \[0, 1\]"),
        ((torch.full((2, 2), float("nan")), ["a", "b"]), {}, ValueError, "finite"),
        ((torch.full((1, 1, 1, 2, 2), 0.5), ["a", "b"]), {}, ValueError, "expected .layers, heads"),
        ((torch.zeros(0, 2), ["a"]), {}, ValueError, "empty dimension"),
        ((torch.full((2, 2), 0.5), []), {}, TypeError, "query_tokens"),
        ((torch.full((2, 2), 0.5), "ab"), {}, TypeError, "query_tokens"),
        ((torch.full((2, 2), 0.5), ["a", 2]), {}, TypeError, r"query_tokens\[1\]: expected a token string"),
        ((torch.full((2, 2), 0.5), ["a", "b"]), {"labels": ["x", "y"]}, ValueError, "labels"),
        ((torch.full((2, 2), 0.5), ["a", "b"]), {"layer": 1}, ValueError, "layer"),
        ((torch.full((2, 2), 0.5), ["a", "b"]), {"head": 1}, ValueError, "head"),
        (([], ["a"]), {}, ValueError, "at least one"),
        (("weights", ["a"]), {}, TypeError, "expected a tensor or an array"),
    ],
)
def test_attention_map_rejects_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        AttentionMap(*args, **kwargs)


def test_attention_map_from_minilm_ships_the_real_weights():
    model = minilm_or_skip()
    sentences = ["The cat sat on the mat because it was tired.", "Attention is all you need."]
    w = AttentionMap.from_minilm(sentences, model=model)
    assert [e["label"] for e in w.examples] == sentences
    tokens, weights = model.attentions(sentences[1])
    w.example, w.layer, w.head = 1, 4, 7
    assert w.examples[1]["query_tokens"] == tokens and weights.shape[:2] == (6, 12)
    np.testing.assert_allclose(w.shown(), weights[4, 7].numpy(), atol=0.5 / 32767 + 1e-6)


def test_cross_attention_head_of_the_gallery_looks_at_the_previous_position():
    # The gallery's prose says so: layer 1, head 3, across two different sentences.
    w = AttentionMap.from_minilm_cross("A kitten is sitting on a rug.", "The cat sat on the mat.",
                                       model=minilm_or_skip(), layer=0, head=2)
    ex = w.examples[0]
    assert len(ex["query_tokens"]) != len(ex["key_tokens"])
    shown = w.shown()
    rows = range(1, len(ex["key_tokens"]) + 1)
    assert all(shown[i].argmax() == i - 1 for i in rows if i < len(ex["query_tokens"]))


# ---------------------------------------------------------------------------------------------- widget 3


def test_positional_tables_are_qkv_positional_s():
    w = PositionalExplorer(max_len=32, d_models=(8, 16), d_model=16, alibi_heads=4)
    for d in (8, 16):
        np.testing.assert_allclose(w.table("sinusoidal", d), sinusoidal_encoding(32, d).numpy(), atol=1 / 32767)
        np.testing.assert_allclose(w.table("rope", d), rope_table(32, d).numpy(), atol=1 / 32767)
    alibi = w.table("alibi")
    np.testing.assert_allclose(alibi, alibi_bias(4, 1, 32)[:, 0].numpy(), atol=1e-3)
    assert w.methods[2]["slopes"] == pytest.approx(alibi_slopes(4).tolist())


def test_rope_table_similarity_depends_only_on_the_offset():
    t = rope_table(20, 8)
    gram = t @ t.T
    for offset in (1, 5):
        diagonal = torch.diagonal(gram, offset)
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal))
    # and it is what qkv's RoPE does to a vector, position by position
    q = t[0]
    torch.testing.assert_close(t[7], RotaryEmbedding(8).rotate(q[None], torch.tensor([7]))[0])


def test_positional_learned_table_from_a_module_or_a_tensor():
    learned = LearnedPositionalEmbedding(d_model=6, max_len=40)
    w = PositionalExplorer(max_len=32, d_models=(8,), learned=learned, method="learned", d_model=6)
    np.testing.assert_allclose(w.table(), learned.embedding.weight[:32].detach().numpy(), atol=2e-4)
    methods, _ = positional_payload(max_len=4, d_models=(2,), learned=torch.randn(4, 3), learned_title="mine")
    assert methods[-1] | {"blocks": None} == {"name": "learned", "title": "mine", "blocks": None}


def test_positional_learned_table_ships_a_robust_range():
    # One outlier must not set the colour range: the front end clips at the 99th percentile of |value|.
    table = torch.full((64, 8), 0.05)
    table[::2] *= -1
    table[3, 4] = 2.0
    methods, _ = positional_payload(d_models=(8,), learned=table)
    blk = methods[-1]["blocks"][0]
    assert blk["clip"] == pytest.approx(0.05) and blk["beyond"] == 1
    assert all("clip" not in b for m in methods[:-1] for b in m["blocks"])


def test_positional_payload_size_for_the_book():
    w = PositionalExplorer()  # 64 positions, d_model 8 to 64, 8 ALiBi heads
    assert w.payload_bytes == 2 * (2 * 64 * (8 + 16 + 32 + 64) + 8 * 64)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"d_models": (8, 7)}, ValueError, "even"),
        ({"d_models": ()}, ValueError, "d_models"),
        ({"method": "relative"}, ValueError, "method: expected one of"),
        ({"d_model": 12}, ValueError, "d_model: expected one of"),
        ({"position": 64}, ValueError, "position"),
        ({"max_len": 1}, ValueError, "max_len"),
        ({"learned": torch.randn(10, 4)}, ValueError, "at least max_len=64"),
        ({"learned": torch.full((64, 4), float("nan"))}, ValueError, "finite"),
        ({"learned": torch.randn(64)}, ValueError, r"\[positions, d_model\]"),
    ],
)
def test_positional_explorer_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PositionalExplorer(**kwargs)


# ---------------------------------------------------------------------------------------------- widget 4


def test_mask_table_is_qkv_masks_and_every_row_is_a_prefix():
    L = 4
    table = mask_table(L)
    for n in range(L + 1):
        keys = padding_mask(torch.tensor([n]), max_len=L)[0, 0]
        expected_causal = combine_masks(keys.expand(L, L), causal_mask(L))
        assert torch.equal(table[n][1][0], expected_causal)
        assert torch.equal(table[n][0][0], keys.expand(L, L))
        assert not table[n][0][1][n:].any()  # padded queries masked: their rows are empty
        for by_causal in table[n]:
            for mask in by_causal:
                m = mask.sum(-1, keepdim=True)
                assert torch.equal(mask, torch.arange(L) < m)  # keys 0..m-1 allowed


def test_row_table_holds_what_pytorch_computes_for_every_setting():
    w = MaskPlayground(lengths=(5, 2, 0), causal=True)
    table = from_int16_bytes(w.rows, w.scale).reshape(3, 5, 6, 4, 3, 4, 5)
    for fill in FILLS:
        for dtype in ("float32", "float16", "bfloat16"):
            for scale in LOGIT_SCALES:
                w.fill, w.dtype, w.logit_scale = fill, dtype, scale
                weights = w.weights().numpy()
                mask = w.mask()
                f, d, s = FILLS.index(fill), ("float32", "float16", "bfloat16").index(dtype), LOGIT_SCALES.index(scale)
                for b in range(3):
                    for i in range(5):
                        m = int(mask[b, i].sum())
                        np.testing.assert_allclose(table[b, i, m, f, d, s], weights[b, i], atol=0.5 / 32767 + 1e-7)


def test_mask_playground_shows_each_way_of_breaking():
    stored, errors = fill_notes()
    assert stored[FILLS.index("-1e9")] == ["-1e+09", "-inf", "-9.982e+08"]  # float16 overflow
    assert "without overflow" in errors[FILLS.index("-1e9")][1] and errors[FILLS.index("-1e4")][1] == ""
    w = MaskPlayground(lengths=(5, 3, 0), fill="-inf")
    assert w.weights()[2].isnan().all() and not w.weights()[:2].isnan().any()  # 0/0 on the empty sequence
    w.fill, w.dtype = "-1e9", "float16"
    assert w.weights()[2].isnan().all()  # overflowed to -inf: same 0/0
    w.dtype = "float32"
    torch.testing.assert_close(w.weights()[2], torch.full((5, 5), 0.2))  # spread over the padding
    w.fill, w.logit_scale = "-1000", 1000
    leak = w.weights()[1][:, 3:].sum(-1)  # sequence 2 has 3 real keys
    assert leak.max() > 0.1
    w.logit_scale = 1
    assert w.weights()[1][:, 3:].max() == 0
    w.fill, w.dtype, w.logit_scale = "-1e4", "float16", 100_000  # scores beyond float16's range
    assert w.weights()[0].isnan().all()


def test_additive_masked_softmax_agrees_with_qkv_where_nothing_breaks():
    scores = torch.randn(2, 4, 4)
    mask = combine_masks(padding_mask(torch.tensor([4, 2]), max_len=4), causal_mask(4))[:, 0]
    torch.testing.assert_close(additive_masked_softmax(scores, mask, float("-inf"), torch.float32),
                               masked_softmax(scores, mask))


def test_mask_playground_payload_and_rows_shape():
    assert row_table(torch.zeros(2, 3, 3)).shape == (2, 3, 4, 4, 3, 4, 3)
    w = MaskPlayground()
    assert w.payload_bytes == 2 * 3 * 5 * 6 * 4 * 3 * 4 * 5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lengths": (6, 1)}, ValueError, r"lengths\[0\]"),
        ({"lengths": ()}, ValueError, "lengths"),
        ({"lengths": "53"}, ValueError, "lengths"),
        ({"fill": "-1e30"}, ValueError, "fill: expected one of"),
        ({"dtype": "float64"}, ValueError, "dtype"),
        ({"logit_scale": 10}, ValueError, "logit_scale"),
        ({"max_len": 9}, ValueError, "max_len"),
        ({"causal": "yes"}, TypeError, "causal"),
    ],
)
def test_mask_playground_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MaskPlayground(**kwargs)


def test_mask_playground_rejects_bad_lengths_later():
    w = MaskPlayground()
    with pytest.raises(traitlets.TraitError, match="lengths"):
        w.lengths = [1, 2]
    with pytest.raises(traitlets.TraitError, match="lengths"):
        w.lengths = [1, 2, 9]


# ---------------------------------------------------------------------------------------------- widget 5


def test_norm_statistics_are_qkv_norms_and_torch_s():
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    s = norm_statistics(x)
    ln = torch.nn.functional.layer_norm(x, (4,))
    bn = torch.nn.functional.batch_norm(x.transpose(1, 2), None, None, training=True).transpose(1, 2)
    np.testing.assert_allclose(s["ln_out"], ln.numpy(), atol=1e-4)
    np.testing.assert_allclose(s["bn_out"], bn.numpy(), atol=1e-4)
    np.testing.assert_allclose(s["bn_mean"], x.mean((0, 1)).numpy(), atol=1e-4)


def test_padding_enters_batchnorm_statistics_only():
    w = NormStatistics(lengths=(5, 3, 2))
    padded, full = w.blocks["padded"], w.blocks["full"]
    x = np.array(padded["x"])
    assert (x[1, 3:] == 0).all() and (x[2, 2:] == 0).all() and (x[0] != 0).all()
    real = np.arange(5)[None, :] < np.array([5, 3, 2])[:, None]
    np.testing.assert_allclose(padded["bn_mean"], x.mean((0, 1)), atol=1e-4)  # zeros counted
    np.testing.assert_allclose(padded["bn_mean_real"], x[real].mean(0), atol=1e-4)  # real tokens only
    # LayerNorm of a real token depends on its own features only
    np.testing.assert_allclose(np.array(padded["ln_out"])[real], np.array(full["ln_out"])[real], atol=1e-4)
    assert "bn_mean_real" not in full and np.isfinite(np.array(padded["ln_out"])).all()


def test_norm_statistics_shared_elements():
    w = NormStatistics(lengths=(5, 3, 2), element=(1, 2, 3))
    assert w.shared("layer") == [(1, 2, f) for f in range(4)]
    assert len(w.shared("batch")) == 15 and all(f == 3 for _, _, f in w.shared("batch"))
    with pytest.raises(ValueError, match="norm"):
        w.shared("group")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lengths": (5, 0)}, ValueError, r"lengths\[1\]"),
        ({"lengths": (6,)}, ValueError, r"lengths\[0\]"),
        ({"features": 1}, ValueError, "features"),
        ({"element": (3, 0, 0)}, ValueError, r"element\[0\]"),
        ({"element": (0, 0)}, ValueError, "element"),
        ({"padding": None}, TypeError, "padding"),
        ({"lengths": (1,), "seq_len": 1}, ValueError, "at least 2 positions"),
    ],
)
def test_norm_statistics_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        NormStatistics(**kwargs)


# ---------------------------------------------------------------------------------------------- page weight


def test_each_widget_as_the_gallery_builds_it_saves_under_the_page_limit():
    model = minilm_or_skip()
    widgets = {
        "softmax": SoftmaxSaturation(),
        "attention": AttentionMap.from_minilm(
            ["The cat sat on the mat because it was tired.",
             "The animal didn't cross the street because it was too tired.", "Attention is all you need."],
            model=model),
        "cross-attention": AttentionMap.from_minilm_cross("A kitten is sitting on a rug.", "The cat sat on the mat.",
                                                          model=model),
        "positional": PositionalExplorer(learned=model.encoder.embeddings.position_embeddings),
        "masks": MaskPlayground(lengths=(5, 3, 0)),
        "norms": NormStatistics(lengths=(5, 3, 2)),
    }
    sizes = {name: saved_state_bytes(w) for name, w in widgets.items()}
    assert all(size < PAGE_LIMIT for size in sizes.values()), sizes
    assert sum(sizes.values()) < PAGE_LIMIT, sizes  # even all of them together, as on the gallery page
