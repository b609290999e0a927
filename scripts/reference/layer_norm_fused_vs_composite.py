#!/usr/bin/env python3
"""Layer norm forward + backward on a [768, 128] float32 batch (the baby GPT's rows): the composite ops
neomesh lowers against Keras's fused form (the rows as the channels of FusedBatchNormV3 in NCHW, whose
gradient is FusedBatchNormGradV3). Three alternating rounds of 200 calls each, 2 threads; prints the
largest difference of y and dx and the time per call. docs/BENCHMARKS.md, "Matmul + bias", cites it.

    .venv/bin/python scripts/reference/layer_norm_fused_vs_composite.py
"""
import time, tensorflow as tf, numpy as np
tf.config.threading.set_intra_op_parallelism_threads(2); tf.config.threading.set_inter_op_parallelism_threads(2)
rows, embd = 768, 128
x = tf.Variable(np.random.randn(rows, embd).astype(np.float32))
g = tf.Variable(np.ones(embd, np.float32)); b = tf.Variable(np.zeros(embd, np.float32))
dy = tf.constant(np.random.randn(rows, embd).astype(np.float32))
@tf.function
def composite():
    with tf.GradientTape() as t:
        m = tf.reduce_mean(x, -1, keepdims=True); c = x - m
        v = tf.reduce_mean(c * c, -1, keepdims=True)
        y = c * tf.math.rsqrt(v + 1e-5) * g + b
    return t.gradient(y, [x, g, b], output_gradients=dy), y
@tf.function
def fused():
    with tf.GradientTape() as t:
        x4 = tf.reshape(x, [1, rows, embd, 1])
        one = tf.ones([rows]); zero = tf.zeros([rows])
        n, _, _ = tf.compat.v1.nn.fused_batch_norm(x4, one, zero, epsilon=1.001e-5, data_format="NCHW")
        y = tf.reshape(n, [rows, embd]) * g + b
    return t.gradient(y, [x, g, b], output_gradients=dy), y
(gc, yc), (gf, yf) = composite(), fused()
print("max diff y", np.abs((yc - yf).numpy()).max(), "dx", np.abs((gc[0] - gf[0]).numpy()).max())
for r in range(3):
    for name, f in (("composite", composite), ("fused", fused)):
        for _ in range(20): f()
        t0 = time.perf_counter()
        for _ in range(200): f()
        print(r, name, "%.1f us" % ((time.perf_counter() - t0) / 200 * 1e6))
