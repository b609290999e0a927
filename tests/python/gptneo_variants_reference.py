"""A PyTorch GPT-Neo forward for the features HuggingFace's GPT-Neo lacks, for neomesh's Java tests.

Usage: gptneo_variants_reference.py WEIGHTS.safetensors RUN.json [WEIGHTS2 RUN2 ...]

WEIGHTS holds every parameter under GPT-Neo's variable names and shapes (``gpt2/wte``
[vocab, embd], ``gpt2/h0/attn/q`` [embd, heads, kv], ``gpt2/h0/attn/o`` [heads, kv, embd],
``gpt2/h0/mlp/conv1d_main/c_fc/kernel`` [embd, 4 embd], ...). RUN.json is
``{"config": {GPT-Neo model keys}, "tokens": [[...]], "labels": [[...]], "loss_mask": [[...]]}``:
the model config as GPT-Neo reads it (missing keys take GPT-Neo's defaults), the batch, and for
masked-LM the 0/1 mask of the masked positions (``tokens`` are then the masked inputs and
``labels`` the original tokens). With ``"adam": {"lr", "beta1", "beta2", "epsilon", "weight_decay"}``
and ``"after_weights"`` (neomesh's weights after one Adam step from WEIGHTS) the output also holds
``step``: this script's own Adam step with muP's per-parameter learning rates (``loss_after``, and
``max_update_diff``, the largest |neomesh's update - this one's| / lr over every element, with the
parameter it is in; ``uniform_update_diff`` the same against a step with every rate lr, which shows
the comparison can tell the two apart). Prints, one line per pair (one interpreter start, as importing
torch takes seconds, serves many runs), a JSON object: ``loss`` (float64), ``loss_float32``,
``aux_loss`` (the MoE part), ``moe_dropped`` (token-to-expert assignments past capacity),
``moe_second_skipped`` (second choices the second-expert policy removed) and ``logits`` (float64
[batch, sequence, vocab] flattened in C order: with random labels the mean loss is nearly blind to
a wrong feature, the logits are not).

Written from GPT-Neo's description (EleutherAI/gpt-neo models/gpt2/gpt2.py ``block`` and
``model``, models/layers.py, models/activations.py) and Mesh-TensorFlow's
(tensorflow/mesh mesh_tensorflow/transformer/moe.py ``transformer_moe_layer_v1`` and
``_top_2_gating``), with the papers: RoFormer (rotary, arXiv:2104.09864), Reformer/axial positions
(arXiv:2001.04451), "Transformers are RNNs" (linear attention, arXiv:2006.16236), "Augmenting
Self-attention with Persistent Memory" (num_mem_kv, arXiv:1907.01470), "Transformers without Tears"
(scalenorm, arXiv:1910.05895), Explicit Sparse Transformer (sparse_topk, arXiv:1912.11637),
RealFormer (residual_attn, arXiv:2012.11747), GQA (n_kv_head, arXiv:2305.13245), muP (Tensor Programs V,
arXiv:2203.03466, with Cerebras' GPT-3 keys: width_mult m = n_embd / mup_base_hidden_size, logits times
output_logits_alpha / m, embeddings times embeddings_scale, scores alpha/d_head under scale_qk_dot_by_d, Adam
at lr/m for hidden matrices and lr/mf for c_proj), ReZero (arXiv:2003.04887), Macaron Net (arXiv:1906.02762),
GLU variants (arXiv:2002.05202), BERT (masked LM, arXiv:1810.04805), GShard/Mesh-TF MoE
(arXiv:1701.06538, arXiv:2006.16668). Where neomesh documents a deliberate difference from GPT-Neo
(attention type "none" is the identity, MLM loss on the masked tokens, a working mlp_glu, memory
key/values visible to every query) this follows neomesh's documented behaviour (docs/MODEL.md).
Evaluation mode only: no dropout, MoE uses capacity_factor_eval and the eval second-expert policy
(a deterministic one: "all", "none" or "threshold").
"""
import json
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

# GPT-Neo's defaults for the keys this script reads (configs.py, models/gpt2/gpt2.py).
DEFAULTS = {"local_attention_radius": 256, "z_loss": 1e-4, "num_mem_kv": 0, "sparse_topk": 0,
            "moe_layers": [], "moe_params": {}, "moe_activation": "relu",
            # Cerebras' muP keys (neomesh's docs/MODEL.md, "muP"); the scales also apply without muP
            "mup_base_hidden_size": None, "mup_base_filter_size": None, "embeddings_scale": 1.0,
            "output_logits_alpha": 1.0, "scale_qk_dot_by_d": False, "attention_logits_alpha": 1.0}
# Keys this reference does not implement: refuse rather than silently compute another model.
UNSUPPORTED = ("precision", "init_style")
# Mesh-TensorFlow's set_default_moe_hparams, plus GPT-Neo's moe_min_expert_capacity = 1.
MOE_DEFAULTS = {"moe_num_experts": 16, "moe_loss_coef": 1e-2, "moe_capacity_factor_eval": 2.0,
                "moe_hidden_size": 4096, "moe_second_policy_eval": "random",
                "moe_second_threshold_eval": 0.2, "moe_min_expert_capacity": 1}

ACTIVATIONS = {  # models/activations.py; mtf.gelu is the tanh approximation
    "gelu": lambda x: F.gelu(x, approximate="tanh"), "relu": F.relu, "silu": F.silu, "swish": F.silu,
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "softplus": F.softplus,
}


def attention_types(spec, n_layer):
    """GPT-Neo's [[[types...], repeat], ...] expanded to one type per layer (a flat list also works)."""
    if all(isinstance(t, str) for t in spec):
        out = list(spec)
    else:
        out = [t for types, repeat in spec for _ in range(repeat) for t in types]
    assert len(out) == n_layer, (out, n_layer)
    return out


class GptNeo:
    """GPT-Neo's forward pass (models/gpt2/gpt2.py) on plain tensors [batch, sequence, embd]."""

    def __init__(self, config, weights):
        unsupported = [k for k in UNSUPPORTED if k in config]
        assert not unsupported, "the reference does not implement " + ", ".join(unsupported)
        self.c = {**DEFAULTS, **config}
        self.w = weights
        # neomesh honours activation_function as an alias (GPT-Neo ignores it; docs/MODEL.md)
        self.act = ACTIVATIONS[config.get("activation_fn", config.get("activation_function", "gelu"))]
        self.causal = not self.c.get("mlm_training", False)  # configs.py: causal = not mlm_training
        self.types = attention_types(self.c.get("attention_types", [[["global"], self.c["n_layer"]]]),
                                     self.c["n_layer"])
        self.moe = {**MOE_DEFAULTS, **self.c["moe_params"]}
        self.moe_dropped = 0
        self.moe_second_skipped = 0
        base = self.c["mup_base_hidden_size"]
        # muP's width multipliers; 1 without muP (d_ff is the MLP's 4 n_embd)
        self.width_mult = self.c["n_embd"] / base if base else 1.0
        base_ff = self.c["mup_base_filter_size"] or (4 * base if base else None)
        self.filter_mult = 4 * self.c["n_embd"] / base_ff if base else 1.0

    def flag(self, key):
        return bool(self.c.get(key, False))

    # ---- norms (models/layers.py norm, layer_norm, scale_norm, rezero) ------------------------
    @staticmethod
    def _norm(x, eps=1e-5):
        x = x - x.mean(-1, keepdim=True)
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)

    def prenorm(self, x, scope):
        """ReZero: no norm (it wins over scalenorm); scalenorm: centred RMS norm times scalar g."""
        if self.flag("rezero"):
            return x
        if self.flag("scalenorm"):
            return self._norm(x) * self.w[scope + "/g"]
        return self._norm(x) * self.w[scope + "/g"] + self.w[scope + "/b"]

    def residual(self, branch, scope):
        """ReZero (Bachlechner et al.): x + g * F(x), g a learned scalar."""
        return branch * self.w[scope + "/g"] if self.flag("rezero") else branch

    # ---- positions ----------------------------------------------------------------------------
    def positions(self, s):
        """Learned wpe, or axial wpe[i*a2 + j] = (W1[i] + W2[j]) / 2, or none under rotary."""
        if self.flag("rotary_emb"):
            return None
        if self.c.get("axial_pos_emb"):
            w1, w2 = self.w["gpt2/axial_wpe_1"], self.w["gpt2/axial_wpe_2"]
            wpe = ((w1[:, None, :] + w2[None, :, :]) / 2).reshape(-1, w1.shape[-1])
            return wpe[:s]
        return self.w["gpt2/wpe"][:s]

    @staticmethod
    def rotary(x):
        """RoFormer on x [b, s, h, d]: x cos + rotate_half(x) sin, inv_freq 10000^(-2i/d) repeated twice."""
        s, d = x.shape[1], x.shape[-1]
        inv_freq = 1.0 / 10000 ** (torch.arange(0, d // 2, dtype=x.dtype) * 2 / d)
        freqs = torch.arange(s, dtype=x.dtype)[:, None] * inv_freq[None, :]
        freqs = torch.cat([freqs, freqs], -1)[None, :, None, :]
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * freqs.cos() + torch.cat([-x2, x1], -1) * freqs.sin()

    # ---- attention (models/layers.py attn; mtf attention_params_simple: no 1/sqrt(d) scaling) --
    def attention(self, x, scope, kind):
        w = self.w
        q, k, v = (torch.einsum("bse,ehd->bshd", x, w[f"{scope}/{n}"]) for n in "qkv")
        if self.flag("rotary_emb"):
            q, k = self.rotary(q), self.rotary(k)
        # Scores: GPT-Neo has its 1/sqrt(d) in q's init (so none here); scale_qk_dot_by_d scales q.k by
        # alpha/d_head instead, attention_logits_alpha alone by alpha. On q, so every attention form sees it.
        alpha = self.c["attention_logits_alpha"]
        q = q * (alpha / q.shape[-1] if self.flag("scale_qk_dot_by_d") else alpha)
        # Grouped-query attention (GQA, arXiv:2305.13245; n_kv_head 1 is multi-query, arXiv:1911.02150):
        # query head h reads key/value head h // (n_head / n_kv_head), HF's repeat_kv
        group = q.shape[2] // k.shape[2]
        k, v = k.repeat_interleave(group, 2), v.repeat_interleave(group, 2)
        if kind == "linear":
            a = self.causal_linear(q, k, v) if self.causal else self.linear(q, k, v)
        else:
            a = self.softmax_attention(q, k, v, scope, kind)
        return torch.einsum("bshd,hde->bse", a, w[scope + "/o"]) + w[scope + "/compute_output_bias/o_b"]

    def softmax_attention(self, q, k, v, scope, kind):
        s = q.shape[1]
        i = torch.arange(s)[:, None]
        j = torch.arange(s)[None, :]
        visible = torch.ones(s, s, dtype=torch.bool)
        if self.causal:
            visible &= j <= i
        if kind == "local":  # mtf local_attention_1d: -R < j - i <= (0 if causal else R)
            r = self.c["local_attention_radius"]
            visible &= (j > i - r) & (j <= i + (0 if self.causal else r))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k)
        if self.flag("residual_attn"):  # RealFormer (arXiv:2012.11747): previous layer's raw scores added
            if self.prev_scores is not None:
                scores = scores + self.prev_scores
            self.prev_scores = scores
        scores = scores + (~visible).to(q.dtype) * -1e10
        top = self.c["sparse_topk"]
        if kind == "global" and 0 < top < s:
            # Explicit Sparse Transformer (arXiv:1912.11637): keep each query's top-k scores, mask the rest
            kth = scores.topk(top, dim=-1).values[..., -1:]
            scores = scores + (scores < kth).to(q.dtype) * -1e10
        if kind == "global" and self.c["num_mem_kv"] > 0:
            # All-attention memory: learned keys/values prepended, seen by every query.
            mem_k, mem_v = self.w[scope + "/mem_k"], self.w[scope + "/mem_v"]
            group = q.shape[2] // mem_k.shape[1]  # [mem_kv, kv heads, kv]: grouped as k and v
            mem_k, mem_v = mem_k.repeat_interleave(group, 1), mem_v.repeat_interleave(group, 1)
            scores = torch.cat([torch.einsum("bqhd,mhd->bhqm", q, mem_k), scores], -1)
            v = torch.cat([mem_v[None].expand(v.shape[0], -1, -1, -1), v], 1)
        return torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v)

    @staticmethod
    def linear(q, k, v):
        """Non-causal linear attention: softmax_d(q) . sum_n softmax_n(k) (x) v."""
        context = torch.einsum("bnhd,bnhe->bhde", k.softmax(1), v)
        return torch.einsum("bshd,bhde->bshe", q.softmax(-1), context)

    @staticmethod
    def causal_linear(q, k, v, eps=1e-6):
        """Katharopoulos et al. with phi(q) = softmax_d(q), phi(k) = exp(k), cumulative sums over n."""
        q, k = q.softmax(-1), k.exp()
        d_inv = 1.0 / torch.einsum("bshd,bshd->bsh", q, k.cumsum(1) + eps)
        context = torch.einsum("bshd,bshe->bshde", k, v).cumsum(1)
        return torch.einsum("bshd,bshde,bsh->bshe", q, context, d_inv)

    # ---- feed-forward -------------------------------------------------------------------------
    def mlp(self, x, scope, act=None):
        """c_proj(act(c_fc(x))); GLU (Shazeer): c_fc twice as wide, halves h and gate, h * act(gate)."""
        act = act or self.act
        w = self.w
        h = x @ w[scope + "/conv1d_main/c_fc/kernel"] + w[scope + "/conv1d_main/c_fc/bias"]
        if self.flag("mlp_glu"):
            h, gate = h.chunk(2, -1)
            h = h * act(gate)
        else:
            h = act(h)
        return h @ w[scope + "/conv1d_main/c_proj/kernel"] + w[scope + "/conv1d_main/c_proj/bias"]

    def moe_layer(self, x, scope):
        """mtf transformer_moe_layer_v1 with _top_2_gating; one group per sequence; eval mode."""
        hp, w = self.moe, self.w
        n_exp, (b, s, _) = hp["moe_num_experts"], x.shape
        capacity = max(min(s, int(s * hp["moe_capacity_factor_eval"] / n_exp)), hp["moe_min_expert_capacity"])
        gates = torch.einsum("bse,ex->bsx", x, w[scope + "/top_2_gating/kernel"]).softmax(-1)
        index_1 = gates.argmax(-1)
        mask_1 = F.one_hot(index_1, n_exp).to(x.dtype)
        gate_1 = (gates * mask_1).sum(-1)
        without_1 = gates * (1 - mask_1)
        index_2 = without_1.argmax(-1)
        mask_2 = F.one_hot(index_2, n_exp).to(x.dtype)
        gate_2 = (without_1 * mask_2).sum(-1)
        denom = gate_1 + gate_2 + 1e-9
        gate_1, gate_2 = gate_1 / denom, gate_2 / denom
        # load-balancing loss: mean over groups and experts of mean_s(gates) * mean_s(top-1 mask), * E^2
        aux = (gates.mean(1) * mask_1.mean(1)).mean() * n_exp * n_exp * hp["moe_loss_coef"]
        policy, second = hp["moe_second_policy_eval"], mask_2.sum()
        if policy == "none":
            mask_2 = mask_2 * 0
        elif policy == "threshold":
            mask_2 = mask_2 * (gate_2 > hp["moe_second_threshold_eval"]).to(x.dtype)[..., None]
        elif policy != "all":
            raise ValueError("the reference needs a deterministic second-expert policy, not " + policy)
        self.moe_second_skipped += int(second - mask_2.sum())
        wanted = mask_1.sum() + mask_2.sum()
        # positions in each expert's buffer, in arrival order; first choices go first
        pos_1 = (mask_1.cumsum(1) - mask_1) * mask_1
        mask_1 = mask_1 * (pos_1 < capacity).to(x.dtype)
        pos_2 = (mask_2.cumsum(1) - mask_2 + mask_1.sum(1, keepdim=True)) * mask_2
        mask_2 = mask_2 * (pos_2 < capacity).to(x.dtype)
        self.moe_dropped += int(wanted - mask_1.sum() - mask_2.sum())
        combine = torch.zeros(b, s, n_exp, capacity, dtype=x.dtype)
        for mask, pos, gate in ((mask_1, pos_1, gate_1), (mask_2, pos_2, gate_2)):
            slot = F.one_hot((pos * mask).sum(-1).long(), capacity).to(x.dtype)
            combine = combine + (gate * mask.sum(-1))[..., None, None] * mask[..., None] * slot[:, :, None, :]
        dispatch = (combine != 0).to(x.dtype)
        expert_in = torch.einsum("bsxc,bse->xbce", dispatch, x)
        h = ACTIVATIONS[self.c["moe_activation"]](torch.einsum("xbce,xeh->xbch", expert_in, w[scope + "/wi/kernel"]))
        expert_out = torch.einsum("xbch,xhe->xbce", h, w[scope + "/wo/kernel"])
        return torch.einsum("xbce,bsxc->bse", expert_out, combine), aux

    # ---- the model (models/gpt2/gpt2.py block and model) --------------------------------------
    def block(self, x, layer):
        scope = "gpt2" if self.flag("share_parameters") else f"gpt2/h{layer}"
        mult = 1.0
        if self.flag("macaron"):  # Macaron: a half-step FFN before attention, and the main FFN halved
            mult = 0.5
            x = x + self.mlp(x, scope + "/mlp_macaron") * mult
        if self.types[layer] != "none":
            a = self.attention(self.prenorm(x, scope + "/norm_1"), scope + "/attn", self.types[layer])
            x = x + self.residual(a, scope + "/norm_rezero_1")
        h = self.prenorm(x, scope + "/norm_2")
        aux = None
        if layer in self.c["moe_layers"]:
            f, aux = self.moe_layer(h, scope + "/moe")
        else:
            f = self.mlp(h, scope + "/mlp")
        return x + self.residual(f * mult, scope + "/norm_rezero_2"), aux

    def loss(self, tokens, labels, loss_mask=None):
        w = self.w
        h = w["gpt2/wte"][tokens]
        pos = self.positions(tokens.shape[1])
        if pos is not None:
            h = h + pos
        h = h * self.c["embeddings_scale"]
        aux_total = torch.zeros((), dtype=h.dtype)
        self.prev_scores = None
        for layer in range(self.c["n_layer"]):
            h, aux = self.block(h, layer)
            if aux is not None:
                aux_total = aux_total + aux
        h = self._norm(h) * w["gpt2/ln_f/g"] + w["gpt2/ln_f/b"]
        h = h * (self.c["output_logits_alpha"] / self.width_mult)  # muP's output multiplier (MuReadout's place)
        if self.flag("no_weight_tie"):  # an output layer with bias; neomesh keeps ln_f (GPT-Neo drops it)
            out = "gpt2/wte_final_linear/linear_out/"
            logits = h @ w[out + "kernel"] + w[out + "bias"]
        else:
            logits = h @ w["gpt2/wte"].T
        lse = logits.logsumexp(-1)
        per_token = lse - logits.gather(-1, labels[..., None])[..., 0] + self.c["z_loss"] * lse * lse
        if loss_mask is None:
            ce = per_token.mean()
        else:  # masked LM: mean over the masked positions (BERT), as neomesh documents
            ce = (per_token * loss_mask).sum() / loss_mask.sum().clamp(min=1)
        return ce + aux_total, aux_total, logits


def lr_multiplier(name, model):
    """muP's Adam rule: hidden (matrix-like) weights at lr / width_mult (c_proj: lr / filter_mult, its fan-in
    is d_ff); vector-like parameters (embeddings, biases, norm gains, memory key/values, the untied output
    layer) at lr."""
    if name.endswith("/conv1d_main/c_proj/kernel"):
        return 1 / model.filter_mult
    hidden = ("/attn/q", "/attn/k", "/attn/v", "/attn/o", "/conv1d_main/c_fc/kernel", "/top_2_gating/kernel",
              "/wi/kernel", "/wo/kernel")
    return 1 / model.width_mult if name.endswith(hidden) else 1.0


def decays(name):
    """GPT-Neo's weight decay skips names with "norm" or "bias"; neomesh also skips ln_f."""
    return not ("norm" in name or "bias" in name or name.startswith("gpt2/ln_f/"))


def adam_step(run, weights_file, after_file):
    """One step of GPT-Neo's Adam (no bias correction) from WEIGHTS, float64, each parameter at lr times its
    muP multiplier: m = (1-b1) g, v = (1-b2) g^2, w -= lr k (m / (sqrt(v) + eps) + wd w)."""
    a = run["adam"]
    weights = {n: t.to(torch.float64).requires_grad_() for n, t in load_file(weights_file).items()}
    model = GptNeo(run["config"], weights)
    loss, _, _ = model.loss(torch.tensor(run["tokens"]), torch.tensor(run["labels"]))
    grads = dict(zip(weights, torch.autograd.grad(loss, list(weights.values()))))
    after = {n: t.to(torch.float64) for n, t in load_file(after_file).items()}
    new, worst, worst_uniform = {}, (0.0, ""), (0.0, "")
    for n, w in weights.items():
        g, w = grads[n], w.detach()
        update = (1 - a["beta1"]) * g / (((1 - a["beta2"]) * g * g).sqrt() + a["epsilon"])
        if a["weight_decay"] and decays(n):
            update = update + a["weight_decay"] * w
        new[n] = w - a["lr"] * lr_multiplier(n, model) * update
        diff = float((after[n] - new[n]).abs().max()) / a["lr"]
        uniform = float((after[n] - (w - a["lr"] * update)).abs().max()) / a["lr"]
        worst = max(worst, (diff, n))
        worst_uniform = max(worst_uniform, (uniform, n))
    with torch.no_grad():
        loss_after, _, _ = GptNeo(run["config"], new).loss(torch.tensor(run["tokens"]), torch.tensor(run["labels"]))
    return {"loss_after": float(loss_after), "max_update_diff": worst[0], "max_update_diff_in": worst[1],
            "uniform_update_diff": worst_uniform[0], "uniform_update_diff_in": worst_uniform[1]}


def reference(weights_file, run_file):
    with open(run_file) as f:
        run = json.load(f)
    out = {}
    for dtype, key in ((torch.float64, "loss"), (torch.float32, "loss_float32")):
        weights = {n: t.to(dtype) for n, t in load_file(weights_file).items()}
        model = GptNeo(run["config"], weights)
        mask = torch.tensor(run["loss_mask"], dtype=dtype) if "loss_mask" in run else None
        with torch.no_grad():
            loss, aux, logits = model.loss(torch.tensor(run["tokens"]), torch.tensor(run["labels"]), mask)
        out[key] = float(loss)
        if dtype == torch.float64:
            out["aux_loss"] = float(aux)
            out["moe_dropped"] = model.moe_dropped
            out["moe_second_skipped"] = model.moe_second_skipped
            out["logits"] = logits.flatten().tolist()
    if "adam" in run:
        out["step"] = adam_step(run, weights_file, run["after_weights"])
    return out


if __name__ == "__main__":
    if len(sys.argv) < 3 or len(sys.argv) % 2 != 1:
        sys.exit(__doc__)
    for i in range(1, len(sys.argv), 2):
        print(json.dumps(reference(sys.argv[i], sys.argv[i + 1])))
