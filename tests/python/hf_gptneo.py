"""HuggingFace's GPTNeoForCausalLM as the reference for neomesh's Java tests.

An independent implementation of GPT-Neo (transformers' modeling_gpt_neo.py): global and local
attention, no 1/sqrt(d) score scaling, gelu_new, layer norm eps 1e-5, lm_head tied to wte.

Usage (each prints one JSON object on stdout):

  hf_gptneo.py make DIR --seed S --layers global,local --n_embd E --n_head H --n_ctx C --vocab V --window W
      A seeded random model saved with save_pretrained (config.json + model.safetensors).
      Weights are N(0, 0.2) (norm gains 1 + N(0, 0.2)), larger than HF's init, so every
      part of the model moves the log-probs.
  hf_gptneo.py from_gptneo FIXTURE_DIR OUT_DIR [--layers global --window W]
      The weights of a GPT-Neo checkpoint fixture (make_gptneo_tf_checkpoint.py's weights.json)
      as a HuggingFace model, converted by HuggingFace's own rules, saved to OUT_DIR.
  hf_gptneo.py score DIR IDS.json
      IDS.json: [[id, ...], ...]. Loads DIR with from_pretrained and prints
      {"logprobs": [[log p(ids[i] | ids[:i]) for i >= 1], ...], "missing_keys": [...],
       "unexpected_keys": [...]} from float32 log_softmax of the logits.
  hf_gptneo.py train_step DIR BATCH.json OUT_DIR --lr LR --beta1 B1 --beta2 B2 --eps EPS
      BATCH.json: {"inputs": [[...]], "labels": [[...]]}. The mean token cross-entropy of the
      batch (labels given explicitly, as neomesh feeds them), one torch.optim.Adam step (bias
      correction, no weight decay, no clipping), the updated model saved to OUT_DIR; prints
      {"loss": ...}.
"""
import argparse
import json
import os
import sys

import torch
import transformers
from transformers import GPTNeoConfig, GPTNeoForCausalLM

transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def make(args):
    torch.manual_seed(args.seed)
    layers = args.layers.split(",")
    config = GPTNeoConfig(
        vocab_size=args.vocab, max_position_embeddings=args.n_ctx, hidden_size=args.n_embd,
        num_layers=len(layers), num_heads=args.n_head, attention_types=[[layers, 1]],
        window_size=args.window, activation_function="gelu_new", resid_dropout=0.0,
        embed_dropout=0.0, attention_dropout=0.0, layer_norm_epsilon=1e-5, bos_token_id=0,
        eos_token_id=0)
    model = GPTNeoForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    model.save_pretrained(args.dir, safe_serialization=True)
    print(json.dumps({"saved": args.dir}))


def from_gptneo(args):
    """A HuggingFace model from the float32 weights.json of make_gptneo_tf_checkpoint.py, by the rules
    of HuggingFace's convert_gpt_neo_mesh_tf_to_pytorch.py / load_tf_weights_in_gpt_neo: strip
    "gpt2/", g -> weight, b and o_b -> bias, transpose every kernel and q/k/v/o, trim wte to the
    real vocabulary."""
    with open(os.path.join(args.fixture, "weights.json")) as f:
        fixture = json.load(f)
    c = fixture["config"]
    layers = args.layers.split(",")
    config = GPTNeoConfig(
        vocab_size=c["vocab"], max_position_embeddings=c["n_ctx"], hidden_size=c["n_embd"],
        num_layers=c["n_layer"], num_heads=c["n_head"], attention_types=[[layers, c["n_layer"] // len(layers)]],
        window_size=args.window, activation_function="gelu_new", resid_dropout=0.0, embed_dropout=0.0,
        attention_dropout=0.0, layer_norm_epsilon=1e-5)
    model = GPTNeoForCausalLM(config)
    state = {}
    for name, t in fixture["tensors"].items():
        value = torch.tensor(t["values"], dtype=torch.float32).reshape(t["shape"])
        key = name[len("gpt2/"):]
        if key == "wte":
            value = value[:c["vocab"]]
        parts = key.split("/")
        if parts[0].startswith("h") and parts[0][1:].isdigit():
            prefix = "transformer.h." + parts[0][1:] + "."
            rest = "/".join(parts[1:])
            names = {"norm_1/g": "ln_1.weight", "norm_1/b": "ln_1.bias", "norm_2/g": "ln_2.weight",
                     "norm_2/b": "ln_2.bias", "attn/q": "attn.attention.q_proj.weight",
                     "attn/k": "attn.attention.k_proj.weight", "attn/v": "attn.attention.v_proj.weight",
                     "attn/o": "attn.attention.out_proj.weight",
                     "attn/compute_output_bias/o_b": "attn.attention.out_proj.bias",
                     "mlp/conv1d_main/c_fc/kernel": "mlp.c_fc.weight", "mlp/conv1d_main/c_fc/bias": "mlp.c_fc.bias",
                     "mlp/conv1d_main/c_proj/kernel": "mlp.c_proj.weight",
                     "mlp/conv1d_main/c_proj/bias": "mlp.c_proj.bias"}
            hf = prefix + names[rest]
            if value.dim() == 2:
                value = value.t()
        else:
            hf = {"wte": "transformer.wte.weight", "wpe": "transformer.wpe.weight", "ln_f/g": "transformer.ln_f.weight",
                  "ln_f/b": "transformer.ln_f.bias"}[key]
        state[hf] = value.contiguous()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        sys.exit(f"fixture does not fill the model: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.save_pretrained(args.out, safe_serialization=True)
    print(json.dumps({"saved": args.out}))


def load(dir):
    model, info = GPTNeoForCausalLM.from_pretrained(dir, output_loading_info=True)
    model.eval()
    return model, info


def score(args):
    model, info = load(args.dir)
    with open(args.ids) as f:
        rows = json.load(f)
    out = []
    with torch.no_grad():
        for ids in rows:
            x = torch.tensor([ids])
            logits = model(x).logits.float()
            logp = torch.log_softmax(logits, dim=-1)[0]
            out.append([logp[i - 1, ids[i]].item() for i in range(1, len(ids))])
    print(json.dumps({"logprobs": out, "missing_keys": list(info["missing_keys"]),
                      "unexpected_keys": list(info["unexpected_keys"])}))


def train_step(args):
    model, _ = load(args.dir)
    model.train()  # dropout is 0 in these configs
    with open(args.batch) as f:
        batch = json.load(f)
    inputs = torch.tensor(batch["inputs"])
    labels = torch.tensor(batch["labels"])
    logits = model(inputs).logits.float()
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(args.beta1, args.beta2), eps=args.eps,
                           weight_decay=0.0)
    opt.zero_grad()
    loss.backward()
    opt.step()
    model.save_pretrained(args.out, safe_serialization=True)
    print(json.dumps({"loss": loss.item()}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--layers", default="global,local")
    m.add_argument("--n_embd", type=int, default=32)
    m.add_argument("--n_head", type=int, default=4)
    m.add_argument("--n_ctx", type=int, default=16)
    m.add_argument("--vocab", type=int, default=64)
    m.add_argument("--window", type=int, default=4)
    g = sub.add_parser("from_gptneo")
    g.add_argument("fixture")
    g.add_argument("out")
    g.add_argument("--layers", default="global")
    g.add_argument("--window", type=int, default=256)
    s = sub.add_parser("score")
    s.add_argument("dir")
    s.add_argument("ids")
    t = sub.add_parser("train_step")
    t.add_argument("dir")
    t.add_argument("batch")
    t.add_argument("out")
    t.add_argument("--lr", type=float, required=True)
    t.add_argument("--beta1", type=float, default=0.9)
    t.add_argument("--beta2", type=float, default=0.999)
    t.add_argument("--eps", type=float, default=1e-8)
    args = p.parse_args()
    {"make": make, "from_gptneo": from_gptneo, "score": score, "train_step": train_step}[args.cmd](args)


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
