"""How far is qkv from PyTorch? Largest absolute differences, and multi-head attention timing.

Usage: python scripts/reference_diffs.py [--seeds 5] [--no-timing]

For every PyTorch reference the unit tests compare against, build both modules with the same weights,
run them in float32 on random inputs (a few seeds, sizes a little larger than the tests'), and print the
largest absolute difference of the outputs and of all gradients (inputs and parameters). Then time
qkv.attention.MultiHeadAttention against nn.MultiheadAttention on CPU (batch 32, length 128,
d_model 256, 8 heads, forward and backward, median of several runs).
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from qkv.attention import MultiHeadAttention, scaled_dot_product_attention
from qkv.masks import causal_mask, combine_masks, padding_mask
from qkv.norms import BatchNorm1d, LayerNorm, RMSNorm
from qkv.rnn import GRU, LSTM, RNN
from qkv.transformer import DecoderLayer, EncoderLayer


def max_diff(a, b):
    return (a.detach() - b.detach()).abs().max().item()


def scale(t):
    return t.detach().abs().max().item()


def randomise(module):
    """Random biases and norm parameters (PyTorch starts them at 0 and 1, which hides mix-ups)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "bias" in name or "norm" in name or isinstance(module, (nn.LayerNorm, nn.BatchNorm1d, nn.RMSNorm)):
                p.normal_(0, 0.5)
    return module


def torch_named_grads(ours, grads):
    """Our parameter gradients under PyTorch's names: q, k, v projections stacked into in_proj, ff.* -> *."""
    g = dict(zip([n for n, _ in ours.named_parameters()], grads))
    out = {}
    for name, grad in g.items():
        for ours_attn, torch_attn in (("self_attn", "self_attn"), ("cross_attn", "multihead_attn"), ("", "")):
            prefix = f"{ours_attn}." if ours_attn else ""
            if name.startswith(prefix + "q_proj."):
                kind = name.rsplit(".", 1)[1]
                parts = [g[f"{prefix}{p}_proj.{kind}"] for p in "qkv"]
                out[f"{torch_attn + '.' if torch_attn else ''}in_proj_{kind}"] = torch.cat(parts)
            elif name.startswith(prefix + "out_proj."):
                out[f"{torch_attn + '.' if torch_attn else ''}{name[len(prefix):]}"] = grad
        if name.startswith("ff."):
            out[name[3:]] = grad
        elif name.startswith("norm") or "_proj." not in name:
            out.setdefault(name, grad)
    return out


def compare(ours, ref, ours_call, ref_call, inputs):
    """(max output difference, max gradient difference over inputs and parameters, largest |gradient|)."""
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    out, ref_out = ours_call(ours, *inputs), ref_call(ref, *inputs)
    outs = out if isinstance(out, (list, tuple)) else [out]
    ref_outs = ref_out if isinstance(ref_out, (list, tuple)) else [ref_out]
    out_diff = max(max_diff(a, b) for a, b in zip(outs, ref_outs))
    gs = [torch.randn_like(t) for t in outs]
    ours_params, ref_params = list(ours.parameters()), dict(ref.named_parameters())
    ours_all = torch.autograd.grad(outs, inputs + ours_params, gs, allow_unused=True)
    ref_all = torch.autograd.grad(ref_outs, inputs + list(ref_params.values()), gs, allow_unused=True)
    diffs = [max_diff(a, b) for a, b in zip(ours_all[: len(inputs)], ref_all[: len(inputs)])]
    mine = torch_named_grads(ours, ours_all[len(inputs):])
    theirs = dict(zip(ref_params, ref_all[len(inputs):]))
    assert set(mine) == set(theirs), (sorted(mine), sorted(theirs))
    diffs += [max_diff(mine[n], theirs[n]) for n in theirs]
    grad_scale = max(scale(t) for t in list(ref_all[: len(inputs)]) + list(theirs.values()))
    return out_diff, max(diffs), grad_scale


class Fn(nn.Module):
    """A parameter-free stand-in so that functions go through the same compare()."""


def cases(seed):
    torch.manual_seed(seed)
    B, T, S, D, H = 4, 16, 12, 64, 8
    lengths, src_lengths = torch.tensor([16, 9, 3, 1]), torch.tensor([12, 7, 5, 2])
    pad, src_pad = padding_mask(lengths), padding_mask(src_lengths)
    q, k, v = torch.randn(B, H, T, D // H), torch.randn(B, H, S, D // H), torch.randn(B, H, S, D // H)
    x, mem = torch.randn(B, T, D), torch.randn(B, S, D)
    bool_mask = torch.rand(B, H, T, S) > 0.5
    bool_mask[..., 0] = True

    sdpa = lambda m, *a: scaled_dot_product_attention(*a)[0]  # noqa: E731
    yield "F.scaled_dot_product_attention (no mask)", compare(
        Fn(), Fn(), sdpa, lambda m, *a: F.scaled_dot_product_attention(*a), [q, k, v])
    yield "F.scaled_dot_product_attention (boolean mask)", compare(
        Fn(), Fn(), lambda m, *a: scaled_dot_product_attention(*a, mask=bool_mask)[0],
        lambda m, *a: F.scaled_dot_product_attention(*a, attn_mask=bool_mask), [q, k, v])
    yield "F.scaled_dot_product_attention (causal)", compare(
        Fn(), Fn(), lambda m, *a: scaled_dot_product_attention(*a, mask=causal_mask(T))[0],
        lambda m, *a: F.scaled_dot_product_attention(*a, is_causal=True), [q, q, q])

    ref = randomise(nn.MultiheadAttention(D, H, batch_first=True))
    ours = MultiHeadAttention.from_torch(ref)
    weights = lambda m, *a, **kw: list(m(*a, **kw))  # noqa: E731
    yield "nn.MultiheadAttention (self, causal + padding)", compare(
        ours, ref, lambda m, t: weights(m, t, t, t, combine_masks(pad, causal_mask(T))),
        lambda m, t: weights(m, t, t, t, key_padding_mask=~pad[:, 0, 0], attn_mask=~causal_mask(T),
                             average_attn_weights=False), [x])
    yield "nn.MultiheadAttention (cross, Lq != Lk, padding)", compare(
        ours, ref, lambda m, a, b: weights(m, a, b, b, src_pad),
        lambda m, a, b: weights(m, a, b, b, key_padding_mask=~src_pad[:, 0, 0], average_attn_weights=False), [x, mem])

    ref = randomise(nn.LayerNorm(D))
    ours = LayerNorm(D)
    ours.load_state_dict(ref.state_dict())
    yield "nn.LayerNorm", compare(ours, ref, lambda m, t: m(t), lambda m, t: m(t), [x * 3 + 1])

    ref = randomise(nn.BatchNorm1d(D))
    ours = BatchNorm1d(D)
    ours.load_state_dict(ref.state_dict())
    diffs = [compare(ours, ref, lambda m, t: m(t), lambda m, t: m(t), [x.transpose(1, 2) * 2 + 1]) for _ in range(3)]
    running = max(max_diff(ours.running_mean, ref.running_mean), max_diff(ours.running_var, ref.running_var))
    yield "nn.BatchNorm1d (training, 3 steps)", tuple(max(d[i] for d in diffs) for i in range(3))
    yield "nn.BatchNorm1d (running statistics)", (running, 0.0, 1.0)
    ours.eval(), ref.eval()
    yield "nn.BatchNorm1d (evaluation)", compare(ours, ref, lambda m, t: m(t), lambda m, t: m(t), [x[:, 0]])

    ref = randomise(nn.RMSNorm(D))
    ours = RMSNorm(D)
    ours.load_state_dict(ref.state_dict())
    yield "nn.RMSNorm", compare(ours, ref, lambda m, t: m(t), lambda m, t: m(t), [x * 2])

    for norm_first in (False, True):
        tag = "pre-norm" if norm_first else "post-norm"
        ref = randomise(nn.TransformerEncoderLayer(D, H, 4 * D, dropout=0.0, batch_first=True, norm_first=norm_first))
        ours = EncoderLayer.from_torch(ref)
        yield f"nn.TransformerEncoderLayer ({tag})", compare(
            ours, ref, lambda m, t: m(t, pad)[0], lambda m, t: m(t, src_key_padding_mask=~pad[:, 0, 0]), [x])
        ref = randomise(nn.TransformerDecoderLayer(D, H, 4 * D, dropout=0.0, batch_first=True, norm_first=norm_first))
        ours = DecoderLayer.from_torch(ref)
        yield f"nn.TransformerDecoderLayer ({tag})", compare(
            ours, ref, lambda m, t, s: m(t, s, causal_mask(T), src_pad)[0],
            lambda m, t, s: m(t, s, tgt_mask=~causal_mask(T), memory_key_padding_mask=~src_pad[:, 0, 0]), [x, mem])

    for name, ours_cls, ref_cls in (("nn.RNN", RNN, nn.RNN), ("nn.LSTM", LSTM, nn.LSTM), ("nn.GRU", GRU, nn.GRU)):
        ref = ref_cls(D, D, num_layers=2, batch_first=True)
        ours = ours_cls(D, D, num_layers=2)
        ours.load_state_dict(ref.state_dict())

        def flat(out):
            return [out] if isinstance(out, torch.Tensor) else [t for part in out for t in flat(part)]

        yield f"{name} (2 layers)", compare(ours, ref, lambda m, t: flat(m(t)), lambda m, t: flat(m(t)), [x])


def dtype_diffs(seeds):
    """Largest |qkv - PyTorch| of the outputs per module and dtype (float16, bfloat16, float32, float64).

    Inputs are standard normal times 30 (norms: times 300, where float16 squares overflow), so the low
    precision paths (statistics and scores accumulated in float32) are exercised.
    """
    dtypes = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
    worst = {}
    for seed in range(seeds):
        torch.manual_seed(seed)
        q, k, v = (torch.randn(2, 4, n, 16) * 3 for n in (8, 12, 12))
        allowed = torch.rand(2, 4, 8, 12) > 0.4
        allowed[..., 0] = True
        allowed[0, 0, 3] = False  # one fully masked row
        bias = torch.zeros(2, 4, 8, 12).masked_fill(~allowed, float("-inf"))
        x = torch.randn(16, 64) * 300
        for dtype in dtypes:
            qd, kd, vd, bd = q.to(dtype), k.to(dtype), v.to(dtype), bias.to(dtype)
            rows = {
                "scaled_dot_product_attention (boolean mask)": (
                    scaled_dot_product_attention(qd, kd, vd, mask=allowed)[0],
                    F.scaled_dot_product_attention(qd, kd, vd, attn_mask=allowed)),
                "scaled_dot_product_attention (-inf bias)": (
                    scaled_dot_product_attention(qd, kd, vd, bias=bd)[0],
                    F.scaled_dot_product_attention(qd, kd, vd, attn_mask=bd)),
            }
            for name, ours_cls, ref_cls in (("LayerNorm", LayerNorm, nn.LayerNorm), ("RMSNorm", RMSNorm, nn.RMSNorm),
                                            ("BatchNorm1d", BatchNorm1d, nn.BatchNorm1d)):
                ref = randomise(ref_cls(64))
                ours = ours_cls(64)
                ours.load_state_dict(ref.state_dict())
                rows[name] = (ours.to(dtype)(x.to(dtype)), ref.to(dtype)(x.to(dtype)))
            for name, (a, b) in rows.items():
                worst[name, dtype] = max(worst.get((name, dtype), 0.0), max_diff(a.double(), b.double()))
    return dtypes, worst


def time_mha(repeats=15):
    """Median forward+backward seconds: qkv vs nn.MultiheadAttention (CPU, float32)."""
    torch.manual_seed(0)
    B, L, D, H = 32, 128, 256, 8
    ref = nn.MultiheadAttention(D, H, batch_first=True)
    ours = MultiHeadAttention.from_torch(ref)
    x = torch.randn(B, L, D, requires_grad=True)

    def median_time(fn):
        for _ in range(3):  # warm-up
            fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def run(call):
        def fn():
            out = call()
            out.sum().backward()
        return fn

    results = {
        "qkv MultiHeadAttention (returns weights [B, H, L, L])": run(lambda: ours(x, x, x)[0]),
        "nn.MultiheadAttention default (need_weights=True, averaged)": run(lambda: ref(x, x, x)[0]),
        "nn.MultiheadAttention need_weights=True, per head": run(lambda: ref(x, x, x, average_attn_weights=False)[0]),
        "nn.MultiheadAttention need_weights=False (fused SDPA)": run(lambda: ref(x, x, x, need_weights=False)[0]),
    }
    # Interleave the measurements so that load from other processes hits all of them alike.
    times = {name: [] for name in results}
    for _ in range(3):
        for name, fn in results.items():
            times[name].append(median_time(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()

    worst = {}
    for seed in range(args.seeds):
        for name, (out_diff, grad_diff, grad_scale) in cases(seed):
            o, g, r = worst.get(name, (0.0, 0.0, 0.0))
            worst[name] = (max(o, out_diff), max(g, grad_diff), max(r, grad_diff / grad_scale))
    print(f"Largest absolute difference from PyTorch, float32, {args.seeds} seeds")
    print(f"{'reference':52s} {'output':>10s} {'gradients':>10s}  gradients / largest |gradient|")
    for name, (o, g, r) in worst.items():
        print(f"{name:52s} {o:10.2e} {g:10.2e} {r:10.2e}")

    dtypes, worst = dtype_diffs(args.seeds)
    print(f"\nLargest absolute output difference from PyTorch per dtype, {args.seeds} seeds")
    print(f"{'module':46s}" + "".join(f"{str(d).replace('torch.', ''):>11s}" for d in dtypes))
    for name in dict.fromkeys(n for n, _ in worst):
        print(f"{name:46s}" + "".join(f"{worst[name, d]:11.2e}" for d in dtypes))

    if not args.no_timing:
        print(f"\nMulti-head attention, CPU ({torch.get_num_threads()} threads), B=32 L=128 d_model=256 heads=8, "
              "forward + backward, median")
        times = time_mha()
        base = times["qkv MultiHeadAttention (returns weights [B, H, L, L])"]
        for name, t in times.items():
            print(f"{name:62s} {t * 1e3:8.1f} ms   qkv / this = {base / t:4.2f}")


if __name__ == "__main__":
    main()
