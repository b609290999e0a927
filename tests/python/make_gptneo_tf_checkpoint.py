"""Writes a small checkpoint shaped like one GPT-Neo's mesh-tensorflow trainer writes, for import tests.

Usage:
    make_gptneo_tf_checkpoint.py OUT_DIR --n_layer L --n_embd E --n_head H --n_ctx C \
        --vocab V --padded_vocab P --seed S [--step N]

Writes into OUT_DIR:
    model.ckpt-N.index, model.ckpt-N.data-00000-of-00001, model.ckpt-N.meta
                 a TF1 checkpoint, by tf.compat.v1.train.Saver(sharded=True,
                 save_relative_paths=True) as GPT-Neo's model_fns.py builds it
    checkpoint   the text file that names the latest checkpoint (model_checkpoint_path:
                 "model.ckpt-N"), as the estimator's CheckpointSaverHook writes it
    config.json  a GPT-Neo model config of these sizes (n_vocab = P, precision bfloat16)
    weights.json every model weight as float32: {"format", "checkpoint", "step", "config",
                 "skipped": [names an importer must skip], "tensors": {name: {"dtype",
                 "shape", "values"}}}, values row-major, each the exact bfloat16 value
                 stored in the checkpoint (widened to float32, printed so it round-trips)

Variables (all bfloat16, GPT-Neo's master dtype when "precision" is "bfloat16"; every one
filled with distinct seeded random numbers, layer-norm gains near 1, so that an importer
that swaps two tensors or transposes one fails a value comparison):
    gpt2/wte                                   [P, E]   the vocabulary padded to P rows
    gpt2/wpe                                   [C, E]
    gpt2/hN/norm_1/g, gpt2/hN/norm_1/b         [E]
    gpt2/hN/attn/q, .../k, .../v               [E, E]   = [d_model, heads * d_kv]
    gpt2/hN/attn/o                             [E, E]   = [heads * d_kv, d_model]
    gpt2/hN/attn/compute_output_bias/o_b       [E]
    gpt2/hN/norm_2/g, gpt2/hN/norm_2/b         [E]
    gpt2/hN/mlp/conv1d_main/c_fc/kernel        [E, 4E]  bias [4E]
    gpt2/hN/mlp/conv1d_main/c_proj/kernel      [4E, E]  bias [E]
    gpt2/ln_f/g, gpt2/ln_f/b                   [E]
plus what an importer must skip: global_step (int64 scalar, = N) and the Adam slots
<name>/adam_m and <name>/adam_v (float32, the variable's shape) of every weight.

What was verified, and where (EleutherAI/gpt-neo and tensorflow/mesh as on GitHub;
HuggingFace transformers' convert script, which transformers 5.17.0 no longer ships, as in
huggingface/transformers src/transformers/models/gpt_neo/convert_gpt_neo_mesh_tf_to_pytorch.py):
  - gpt-neo model_fns.py: the model is built under tf.variable_scope("gpt2"); precision
    "bfloat16" makes VariableDType(master_dtype=bfloat16, slice_dtype=float32, ...); the
    saver is tf.train.Saver(tf.global_variables(), sharded=True, save_relative_paths=True).
  - mesh_tensorflow ops.py, class Variable: each mtf variable is one tf.get_variable of the
    FULL mtf shape in master_dtype (the checkpointed "master"); simd_mesh_impl.py keeps the
    per-device slices in the "TPU_VAR" collection, so the Saver never writes them.
  - gpt-neo models/gpt2/gpt2.py: wte [vocab, embd] with vocab = n_vocab (GPT-Neo's configs
    give the padded size, 50304); wpe [embed_sequence = n_ctx, embd]; blocks h{layer};
    ln_f only when not no_weight_tie.
  - gpt-neo models/layers.py: layer_norm scopes norm_1/norm_2/ln_f with g, b of [embd];
    attn uses mtf.transformer.attention.attention_params_simple(io=embd, kv=embd/n_head,
    heads=n_head) in scope "attn", and adds compute_output_bias/o_b [embd]; mlp's
    linear() is mtf.layers.dense inside variable_scope("conv1d_main") named c_fc / c_proj
    (intermediate_expanded = 4 * embd).
  - mesh_tensorflow transformer/attention.py, AttentionParams: combine_dims=True is the
    default, so q, k, v are [io, combined(heads, d_kv)] and o is [combined(heads, d_kv), io]
    - 2-D [E, E], NOT [E, H, E/H]; the combined dim is heads-major (column h * d_kv + d),
    as replace_dimensions splits it back into [heads, d_kv].
  - mesh_tensorflow layers.py, dense/get_dense_kernel_weights: kernel [reduced + new dims]
    = [in, out] named "kernel", bias [new dims] named "bias".
  - gpt-neo optimizers.py, AdamWeightDecayOptimizer: slots mtf.get_variable(var.name +
    "/adam_m") and "/adam_v" of var.shape, default dtype (float32).
  - gpt-neo model_fns.py / optimizers.py: global_step is tf.train.get_or_create_global_step
    (int64 scalar).
  - HuggingFace's load_tf_weights_in_gpt_neo (convert_gpt_neo_mesh_tf_to_pytorch.py): skips
    names containing "global_step" or "adam", casts to float32, drops "gpt2/", maps g to
    weight and b / o_b to bias, transposes q, k, v, o, c_fc and c_proj kernels (nn.Linear is
    [out, in]) and trims wte to the real vocabulary (config.vocab_size = V here).
Before exiting, the script reads the checkpoint back with tf.train.load_checkpoint and checks
every name, dtype, shape and value against weights.json.
"""
import argparse
import json
import os
import sys

import numpy as np
import tensorflow as tf


def weight_shapes(a):
    """GPT-Neo's model weights in creation order: name -> (shape, kind)."""
    e = a.n_embd
    shapes = {"gpt2/wte": ([a.padded_vocab, e], "matrix"), "gpt2/wpe": ([a.n_ctx, e], "matrix")}
    for n in range(a.n_layer):
        h = f"gpt2/h{n}"
        shapes[f"{h}/norm_1/g"] = ([e], "gain")
        shapes[f"{h}/norm_1/b"] = ([e], "bias")
        for w in ("q", "k", "v", "o"):
            shapes[f"{h}/attn/{w}"] = ([e, e], "matrix")
        shapes[f"{h}/attn/compute_output_bias/o_b"] = ([e], "bias")
        shapes[f"{h}/norm_2/g"] = ([e], "gain")
        shapes[f"{h}/norm_2/b"] = ([e], "bias")
        shapes[f"{h}/mlp/conv1d_main/c_fc/kernel"] = ([e, 4 * e], "matrix")
        shapes[f"{h}/mlp/conv1d_main/c_fc/bias"] = ([4 * e], "bias")
        shapes[f"{h}/mlp/conv1d_main/c_proj/kernel"] = ([4 * e, e], "matrix")
        shapes[f"{h}/mlp/conv1d_main/c_proj/bias"] = ([e], "bias")
    shapes["gpt2/ln_f/g"] = ([e], "gain")
    shapes["gpt2/ln_f/b"] = ([e], "bias")
    return shapes


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out_dir")
    for flag in ("n_layer", "n_embd", "n_head", "n_ctx", "vocab", "padded_vocab", "seed"):
        p.add_argument("--" + flag, type=int, required=True)
    p.add_argument("--step", type=int, default=1000)
    a = p.parse_args()
    if a.n_embd % a.n_head:
        sys.exit(f"n_embd {a.n_embd} must be a multiple of n_head {a.n_head}")
    if a.padded_vocab < a.vocab:
        sys.exit(f"padded_vocab {a.padded_vocab} must be >= vocab {a.vocab}")
    os.makedirs(a.out_dir, exist_ok=True)

    rng = np.random.RandomState(a.seed)
    shapes = weight_shapes(a)
    initial = {}
    for name, (shape, kind) in shapes.items():
        x = rng.normal(0.0, 0.02, size=shape)
        initial[name] = (1.0 + 5 * x if kind == "gain" else x).astype(np.float32)

    slots = {}
    for name, (shape, _) in shapes.items():
        for slot in ("adam_m", "adam_v"):
            slots[f"{name}/{slot}"] = np.abs(rng.normal(0.0, 1e-3, size=shape)).astype(np.float32)

    graph = tf.Graph()
    with graph.as_default():
        zeros = tf.compat.v1.zeros_initializer()
        weights = {name: tf.compat.v1.get_variable(name, v.shape, tf.bfloat16, zeros) for name, v in initial.items()}
        adam = {name: tf.compat.v1.get_variable(name, v.shape, tf.float32, zeros) for name, v in slots.items()}
        global_step = tf.compat.v1.train.get_or_create_global_step()
        # values are fed, not baked into the graph as constants: model.ckpt-N.meta stays small
        feeds, assigns = {}, []
        for var, value in [(weights[n], v) for n, v in initial.items()] + [(adam[n], v) for n, v in slots.items()]:
            ph = tf.compat.v1.placeholder(tf.float32, value.shape)
            feeds[ph] = value
            assigns.append(tf.compat.v1.assign(var, tf.cast(ph, var.dtype)))
        assigns.append(tf.compat.v1.assign(global_step, a.step))
        saver = tf.compat.v1.train.Saver(tf.compat.v1.global_variables(), sharded=True, save_relative_paths=True)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(assigns, feeds)
            stored = sess.run(weights)  # the bfloat16 values the checkpoint holds
            prefix = saver.save(sess, os.path.join(a.out_dir, "model.ckpt"), global_step=a.step)

    tensors = {name: {"dtype": "bfloat16", "shape": shapes[name][0],
                      "values": [float(x) for x in np.asarray(stored[name]).astype(np.float32).ravel()]}
               for name in shapes}
    skipped_names = sorted(["global_step"] + list(slots))
    config = {"n_layer": a.n_layer, "n_embd": a.n_embd, "n_head": a.n_head, "n_ctx": a.n_ctx,
              "vocab": a.vocab, "padded_vocab": a.padded_vocab, "seed": a.seed}
    with open(os.path.join(a.out_dir, "weights.json"), "w") as f:
        json.dump({"format": "neomesh-gptneo-fixture-1", "checkpoint": os.path.basename(prefix), "step": a.step,
                   "config": config, "skipped": skipped_names, "tensors": tensors}, f)
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump({"n_head": a.n_head, "n_vocab": a.padded_vocab, "n_embd": a.n_embd, "n_ctx": a.n_ctx,
                   "n_layer": a.n_layer, "attention_types": [[["global"], a.n_layer]], "precision": "bfloat16",
                   "activation_function": "gelu", "scale_by_depth": True, "scale_by_in": False,
                   "embed_dropout": 0, "attn_dropout": 0, "res_dropout": 0}, f, indent=2)
    check(prefix, tensors, skipped_names, a.step)
    print(prefix)


def check(prefix, tensors, skipped_names, step):
    """Reads the checkpoint back as an importer would and compares it with weights.json."""
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    assert sorted(dtypes) == sorted(list(tensors) + skipped_names), sorted(dtypes)
    for name, t in tensors.items():
        assert dtypes[name] == tf.bfloat16, (name, dtypes[name])
        value = np.asarray(reader.get_tensor(name)).astype(np.float32)
        assert list(value.shape) == t["shape"], (name, value.shape)
        assert np.array_equal(value.ravel(), np.array(t["values"], dtype=np.float32)), name
    assert dtypes["global_step"] == tf.int64 and reader.get_tensor("global_step") == step
    assert all(dtypes[n] == tf.float32 for n in skipped_names if "adam" in n)


if __name__ == "__main__":
    main()
