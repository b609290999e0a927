"""HuggingFace's side of neomesh's generation benchmark (scripts/bench generate).

GPTNeoForCausalLM.generate on the CPU, greedy, with the KV cache, timed the way the Java side
times its own decoder: time to first token, total time for a fixed number of new tokens, and the
cost of a new token late in the sequence.

Usage (each prints one JSON object on stdout):

  hf_generate.py make DIR [--seed 1] [--layers 12] [--n_embd 768] [--n_head 12] [--vocab 50257] [--n_ctx 2048] [--window 256]
      A GPT-Neo-125M-shaped model with HF's own random init (torch.manual_seed(seed)): layers
      alternating global, local, gelu_new, no dropout, layer norm eps 1e-5, bos/eos 50256
      (vocab - 1 when the vocabulary is smaller). Saved with save_pretrained (config.json +
      model.safetensors, float32). Prints {"saved": DIR, "parameters": N}.
  hf_generate.py generate DIR --prompts PROMPTS.json [--new_tokens 128] [--threads 2] [--reps 1]
      PROMPTS.json: {"batches": [[[id, ...], ...], ...]}, each batch a list of equal-length rows.
      Per batch: one untimed warm-up generate, then the median over reps of the wall time of
      generate(max_new_tokens=1) (first_token_s) and of generate(max_new_tokens=new_tokens)
      (total_s); greedy, use_cache=True, no EOS stop, exactly new_tokens new tokens. Prints
      {"threads": T, "results": [{"batch": B, "prompt_len": L, "new_tokens": N, "first_token_s": x,
       "total_s": y, "tokens_per_s": B*N/y, "ids": [[new ids of each row], ...]}, ...],
       "torch": ..., "transformers": ...}.
  hf_generate.py position_cost DIR --start S --new_tokens N [--threads 2] [--reps 1] [--seed 0]
      A batch-1 prompt of S seeded random ids; the decode cost of a token at positions S..S+N:
      tokens_per_s = N / (total_s - first_token_s), both medians over reps after a warm-up.
      Prints {"start": S, "new_tokens": N, "tokens_per_s": ..., "first_token_s": ...,
      "total_s": ..., "threads": T, "torch": ..., "transformers": ...}.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import transformers
from transformers import GPTNeoConfig, GPTNeoForCausalLM

transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def make(args):
    torch.manual_seed(args.seed)
    if args.layers % 2:
        sys.exit("--layers must be even (global, local pairs)")
    special = min(50256, args.vocab - 1)
    config = GPTNeoConfig(
        vocab_size=args.vocab, max_position_embeddings=args.n_ctx, hidden_size=args.n_embd,
        num_layers=args.layers, num_heads=args.n_head, attention_types=[[["global", "local"], args.layers // 2]],
        window_size=args.window, activation_function="gelu_new", resid_dropout=0.0, embed_dropout=0.0,
        attention_dropout=0.0, layer_norm_epsilon=1e-5, bos_token_id=special, eos_token_id=special)
    model = GPTNeoForCausalLM(config).to(torch.float32)
    # transformers 5 always writes safetensors (its save_pretrained has no safe_serialization argument).
    model.save_pretrained(args.dir)
    print(json.dumps({"saved": args.dir, "parameters": sum(p.numel() for p in model.parameters())}))


def load(dir):
    model = GPTNeoForCausalLM.from_pretrained(dir, dtype=torch.float32)
    model.eval()
    return model


def run_generate(model, input_ids, new_tokens):
    """One greedy model.generate of exactly new_tokens new tokens; returns (seconds, new ids)."""
    attention_mask = torch.ones_like(input_ids)
    pad = model.config.eos_token_id if model.config.eos_token_id is not None else 0
    start = time.perf_counter()
    out = model.generate(
        input_ids, attention_mask=attention_mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
        do_sample=False, num_beams=1, use_cache=True, eos_token_id=None, pad_token_id=pad)
    seconds = time.perf_counter() - start
    new = out[:, input_ids.shape[1]:]
    if new.shape[1] != new_tokens:
        sys.exit(f"generate gave {new.shape[1]} new tokens, not {new_tokens}")
    return seconds, new


def time_prompt(model, input_ids, new_tokens, reps):
    """Warm-up, then the medians of first-token and total times; the new ids of the last run."""
    with torch.inference_mode():
        run_generate(model, input_ids, min(2, new_tokens))  # untimed warm-up at this batch size
        first = [run_generate(model, input_ids, 1)[0] for _ in range(reps)]
        totals, ids = [], None
        for _ in range(reps):
            seconds, new = run_generate(model, input_ids, new_tokens)
            if ids is not None and not torch.equal(ids, new):
                sys.exit("greedy ids differ between reps")
            totals.append(seconds)
            ids = new
    return statistics.median(first), statistics.median(totals), ids


def check_fits(model, length):
    if length > model.config.max_position_embeddings:
        sys.exit(f"prompt + new tokens = {length} > n_ctx {model.config.max_position_embeddings}")


def generate(args):
    torch.set_num_threads(args.threads)
    model = load(args.dir)
    with open(args.prompts) as f:
        batches = json.load(f)["batches"]
    results = []
    for rows in batches:
        if len({len(r) for r in rows}) != 1:
            sys.exit("rows of a batch must have equal length")
        input_ids = torch.tensor(rows, dtype=torch.long)
        check_fits(model, input_ids.shape[1] + args.new_tokens)
        first, total, ids = time_prompt(model, input_ids, args.new_tokens, args.reps)
        results.append({"batch": input_ids.shape[0], "prompt_len": input_ids.shape[1], "new_tokens": args.new_tokens,
                        "first_token_s": first, "total_s": total,
                        "tokens_per_s": input_ids.shape[0] * args.new_tokens / total, "ids": ids.tolist()})
    print(json.dumps({"threads": args.threads, "results": results, "torch": torch.__version__,
                      "transformers": transformers.__version__}))


def position_cost(args):
    torch.set_num_threads(args.threads)
    model = load(args.dir)
    check_fits(model, args.start + args.new_tokens)
    g = torch.Generator().manual_seed(args.seed)
    input_ids = torch.randint(0, model.config.vocab_size, (1, args.start), generator=g)
    first, total, _ = time_prompt(model, input_ids, args.new_tokens, args.reps)
    print(json.dumps({"start": args.start, "new_tokens": args.new_tokens,
                      "tokens_per_s": args.new_tokens / (total - first), "first_token_s": first, "total_s": total,
                      "threads": args.threads, "torch": torch.__version__,
                      "transformers": transformers.__version__}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--layers", type=int, default=12)
    m.add_argument("--n_embd", type=int, default=768)
    m.add_argument("--n_head", type=int, default=12)
    m.add_argument("--vocab", type=int, default=50257)
    m.add_argument("--n_ctx", type=int, default=2048)
    m.add_argument("--window", type=int, default=256)
    g = sub.add_parser("generate")
    g.add_argument("dir")
    g.add_argument("--prompts", required=True)
    g.add_argument("--new_tokens", type=int, default=128)
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--reps", type=int, default=1)
    c = sub.add_parser("position_cost")
    c.add_argument("dir")
    c.add_argument("--start", type=int, required=True)
    c.add_argument("--new_tokens", type=int, required=True)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--reps", type=int, default=1)
    c.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    {"make": make, "generate": generate, "position_cost": position_cost}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
