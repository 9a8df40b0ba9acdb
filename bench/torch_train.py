#!/usr/bin/env python3
"""The PyTorch side of `lab bench train` (embedded in the lab binary, written to a temp dir).

Implements lab's two models op for op and times them on the schedule lab used:
  python torch_train.py SPEC.json     (SPEC as `lab bench train` writes it)
prints one JSON object: {"torch": version, "threads": n, "results": {config: {train, forward,
params}}}, samples/s. Synthetic seeded inputs of the shapes lab used.

OCR (src/ml/ocr.rs): (B,1,H,W) in [0,1] -> (x-0.5)*2 -> one token per 4-px column strip,
features cat(prev, cur, next strips) (edges repeat) of H*4 values each -> Linear(->stem) -> GELU
-> Linear(->hidden) + sinusoidal positions -> pre-LN blocks [LN -> q/k/v/out Linear with bias,
softmax attention with the padding mask -> +res; LN -> Linear(->ff) GELU Linear(->hidden) -> +res]
-> LN -> head -> log_softmax; CTC loss (blank 0), mean over the batch.
Doc (src/ml/doc/llama.rs): Llama - embedding, RMSNorm, rotate-half RoPE, q/k/v/o without bias,
causal softmax attention, SwiGLU, final RMSNorm, lm_head; cross-entropy on the answer tokens.
Both: AdamW(lr 1e-3, betas 0.9/0.999, eps 1e-8, the config's weight decay) after clipping the
global gradient norm to 1. The forward pass is the model's output without autograd.
"""

import json
import math
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class OcrBlock(nn.Module):
    def __init__(self, h, heads, ff):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-5), nn.LayerNorm(h, eps=1e-5)
        self.query, self.key, self.value, self.out = (nn.Linear(h, h) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(h, ff), nn.Linear(ff, h)

    def forward(self, x, mask):
        b, t, h = x.shape
        dh = h // self.heads
        y = self.ln1(x)

        def split(p):
            return p(y).view(b, t, self.heads, dh).transpose(1, 2)

        q, k, v = split(self.query), split(self.key), split(self.value)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, t, h)
        x = x + self.out(ctx)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def sinusoid(t, h):
    p = torch.arange(t, dtype=torch.float32)[:, None]
    i = torch.arange(h // 2, dtype=torch.float32)[None, :]
    f = p / torch.pow(10000.0, 2.0 * i / h)
    pe = torch.zeros(t, h)
    pe[:, 0 : 2 * (h // 2) : 2] = torch.sin(f)
    pe[:, 1 : 2 * (h // 2) : 2] = torch.cos(f)
    return pe[None]


class Ocr(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.height = c["height"]
        self.patch = nn.Linear(c["height"] * 4 * 3, c["stem"])
        self.proj = nn.Linear(c["stem"], c["hidden"])
        self.blocks = nn.ModuleList(
            OcrBlock(c["hidden"], c["heads"], c["ff"]) for _ in range(c["layers"])
        )
        self.ln = nn.LayerNorm(c["hidden"], eps=1e-5)
        self.head = nn.Linear(c["hidden"], c["vocab"])

    def forward(self, images, steps):
        b, _, hgt, w = images.shape
        t = w // 4
        x = (images - 0.5) * 2.0
        p = x.reshape(b, hgt, t, 4).permute(0, 2, 1, 3).reshape(b, t, hgt * 4)
        nxt = torch.cat([p[:, 1:], p[:, t - 1 :]], 1)
        prv = torch.cat([p[:, :1], p[:, : t - 1]], 1)
        x = self.proj(F.gelu(self.patch(torch.cat([prv, p, nxt], 2))))
        x = x + sinusoid(t, x.shape[2])
        valid = torch.arange(t)[None, :] < steps[:, None]
        mask = torch.where(valid, 0.0, -1e9).view(b, 1, 1, t)
        for blk in self.blocks:
            x = blk(x, mask)
        return F.log_softmax(self.head(self.ln(x)), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, h, eps=1e-5):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(h)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, f, dh = c["hidden"], c["intermediate"], c["hidden"] // c["heads"]
        self.nh, self.nkv, self.dh = c["heads"], c["kv_heads"], dh
        self.in_norm, self.post_norm = RMSNorm(h), RMSNorm(h)
        self.q = nn.Linear(h, h, bias=False)
        self.k = nn.Linear(h, self.nkv * dh, bias=False)
        self.v = nn.Linear(h, self.nkv * dh, bias=False)
        self.o = nn.Linear(h, h, bias=False)
        self.gate = nn.Linear(h, f, bias=False)
        self.up = nn.Linear(h, f, bias=False)
        self.down = nn.Linear(f, h, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, h = x.shape
        y = self.in_norm(x)

        def heads(p, n):
            return p(y).view(b, t, n, self.dh).transpose(1, 2)

        q, k, v = heads(self.q, self.nh), heads(self.k, self.nkv), heads(self.v, self.nkv)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if self.nkv != self.nh:
            k = k.repeat_interleave(self.nh // self.nkv, dim=1)
            v = v.repeat_interleave(self.nh // self.nkv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh) + mask, dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, h))
        y = self.post_norm(x)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(c["vocab"], c["hidden"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["hidden"])
        self.lm_head = nn.Linear(c["hidden"], c["vocab"], bias=False)
        dh = c["hidden"] // c["heads"]
        inv = 1.0 / (10000.0 ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
        a = torch.arange(c["max_pos"], dtype=torch.float64)[:, None] * inv[None, :]
        a = torch.cat([a, a], dim=-1)
        self.register_buffer("cos", a.cos().float(), persistent=False)
        self.register_buffer("sin", a.sin().float(), persistent=False)

    def hidden(self, ids):
        t = ids.shape[1]
        mask = torch.triu(torch.full((t, t), -1e9), diagonal=1)
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.norm(x)

    def forward(self, ids):
        return self.lm_head(self.hidden(ids))


def ocr_case(c, batch, g):
    model = Ocr(c)
    images = torch.rand(batch, 1, c["height"], c["width"], generator=g)
    steps = torch.full((batch,), c["width"] // 4, dtype=torch.long)
    targets = torch.randint(1, c["vocab"], (batch, c["target_len"]), generator=g)
    tlens = torch.full((batch,), c["target_len"], dtype=torch.long)

    def loss():
        lp = model(images, steps)
        return F.ctc_loss(lp.transpose(0, 1), targets, steps, tlens, blank=0, reduction="sum") / batch

    return model, loss, lambda: model(images, steps)


def doc_case(c, batch, g):
    model = Llama(c)
    n = c["len"]
    seqs = torch.randint(3, c["vocab"], (batch, n), generator=g)
    ids, start = seqs[:, :-1], n // 2
    # Answer tokens: inputs at positions start-1 .. n-2 predict tokens start .. n-1.
    at = slice(max(start - 1, 0), n - 1)

    def loss():
        logits = model.lm_head(model.hidden(ids)[:, at])
        return F.cross_entropy(logits.reshape(-1, c["vocab"]), seqs[:, at.start + 1 :].reshape(-1))

    return model, loss, lambda: model(ids)


def rate(spec, f):
    for _ in range(spec["warmup"]):
        f()
    rates = []
    for _ in range(spec["reps"]):
        t = time.perf_counter()
        for _ in range(spec["steps"]):
            f()
        rates.append(spec["batch"] * spec["steps"] / (time.perf_counter() - t))
    return statistics.median(rates)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    results = {}
    for c in spec["cases"]:
        g = torch.Generator().manual_seed(spec["seed"])
        make = ocr_case if c["kind"] == "ocr" else doc_case
        model, loss, forward = make(c, spec["batch"], g)
        params = list(model.parameters())
        opt = torch.optim.AdamW(
            params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=c["weight_decay"]
        )

        def step():
            opt.zero_grad(set_to_none=True)
            loss().backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        def infer():
            with torch.no_grad():
                forward()

        results[c["name"]] = {
            "train": rate(spec, step),
            "forward": rate(spec, infer),
            "params": sum(p.numel() for p in params),
        }
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
