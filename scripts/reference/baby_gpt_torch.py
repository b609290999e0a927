#!/usr/bin/python3
"""The issue-4 reference: the "baby GPT" recipe in PyTorch, to measure on this machine what the
neomesh figures in docs/BENCHMARKS.md are compared with (tokens/s and validation loss).

    python3 scripts/reference/baby_gpt_torch.py TEXT [--steps 2000] [--threads 2] [--interop_threads N] [--time_only]
        [--layers 4 --heads 4 --n_embd 128 --n_ctx 64 --batch 12]

Character level, first 90% train / last 10% validation; 4 layers, 4 heads, n_embd 128, n_ctx 64,
batch 12, dropout 0, no biases but the layer norms', tied embeddings, init N(0, 0.02) with residual projections scaled
by 1/sqrt(2 n_layer), AdamW (0.9, 0.99) weight decay 0.1 on matrices, clip 1.0, lr 1e-3 with 100
warm-up steps and cosine decay to 1e-4 at 2000. Attention is nanoGPT's: PyTorch's fused
scaled_dot_product_attention (causal) where the installed torch has it. The sizes flags give other
GPTs of the same recipe (the 10.7M GPT of docs/BENCHMARKS.md: --layers 6 --heads 6 --n_embd 384
--n_ctx 256 --batch 8). Written for this comparison (runs on the .venv's torch 2.13 that .ci/run
makes, or Debian's python3-torch), not part of neomesh.
"""
import argparse, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("text")
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--interop_threads", type=int, default=0, help="torch inter-op threads (0: its default)")
p.add_argument("--time_only", action="store_true", help="time 60 steps, no evaluation")
p.add_argument("--layers", type=int, default=4)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--n_embd", type=int, default=128)
p.add_argument("--n_ctx", type=int, default=64)
p.add_argument("--batch", type=int, default=12)
a = p.parse_args()
torch.set_num_threads(a.threads)
if a.interop_threads:
    torch.set_num_interop_threads(a.interop_threads)
torch.manual_seed(1)
L, H, E, T, B = a.layers, a.heads, a.n_embd, a.n_ctx, a.batch
FLASH = hasattr(F, "scaled_dot_product_attention")

data = open(a.text, "rb").read()
vocab = sorted(set(data))
stoi = {c: i for i, c in enumerate(vocab)}
ids = torch.tensor([stoi[c] for c in data], dtype=torch.long)
n = int(0.9 * len(ids))
train, val = ids[:n], ids[n:]
V = len(vocab)

def batch(split):
    d = train if split == "train" else val
    ix = torch.randint(len(d) - T, (B,))
    return torch.stack([d[i:i + T] for i in ix]), torch.stack([d[i + 1:i + 1 + T] for i in ix])

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(E), nn.LayerNorm(E)
        self.qkv, self.proj = nn.Linear(E, 3 * E, bias=False), nn.Linear(E, E, bias=False)
        self.fc, self.out = nn.Linear(E, 4 * E, bias=False), nn.Linear(4 * E, E, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(E, dim=2)
        q, k, v = (z.view(b, t, H, E // H).transpose(1, 2) for z in (q, k, v))
        if FLASH:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(E // H)
            y = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(dim=-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, E))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))

class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, E), nn.Embedding(T, E)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln = nn.LayerNorm(E)
        for name, w in self.named_parameters():
            if w.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith(("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(w, 0.0, std)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        logits = self.ln(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))

model = Gpt()
decay = [w for w in model.parameters() if w.dim() >= 2]
other = [w for w in model.parameters() if w.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.99))

def lr_at(s):
    if s < 100:
        return 1e-3 * (s + 1) / 100
    r = min(1.0, (s - 100) / (2000 - 100))
    return 1e-4 + 0.5 * (1 + math.cos(math.pi * r)) * (1e-3 - 1e-4)

steps = 65 if a.time_only else a.steps
times = []
for s in range(steps):
    for g in opt.param_groups:
        g["lr"] = lr_at(s)
    x, y = batch("train")
    t0 = time.perf_counter()
    loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    times.append(time.perf_counter() - t0)
    if s % 200 == 0 or s == steps - 1:
        print(f"step {s} loss {loss.item():.4f}", flush=True)
times = sorted(times[5:])
med = times[len(times) // 2]
print(f"torch {torch.__version__}, {a.threads} threads (inter-op {torch.get_num_interop_threads()}), "
      f"{L}L/{E} ctx {T} batch {B}: median {med * 1e3:.1f} ms/step, {B * T / med:,.0f} tokens/s "
      f"(mean over the run {B * T * len(times) / sum(times):,.0f} tokens/s)")
if not a.time_only:
    model.eval()
    with torch.no_grad():
        vl = sum(model(*batch("val")).item() for _ in range(200)) / 200
    print(f"validation loss {vl:.4f} (200 batches)")
