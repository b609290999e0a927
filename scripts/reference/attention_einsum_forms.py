#!/usr/bin/env python3
"""The baby GPT's attention scores (q, k of 12 x 64 tokens, 4 heads of 32) in the forms TensorFlow can
run them: einsum on [batch, sequence, heads, kv] operands (what neomesh's model lowers to, a transposing
_MklEinsum with oneDNN on), einsum on [batch, heads, sequence, kv] operands, BatchMatMulV2 with adj_y, and
an elementwise multiply of the same tensor (the per-op floor of this harness). Each form runs 40 times,
chained by control dependencies, in one tf.function; prints the median time per op of 20 calls, two
rounds. Argument: 1 or 0, TF_ENABLE_ONEDNN_OPTS. docs/BENCHMARKS.md, "CPU speed against PyTorch", cites it.

    .venv/bin/python scripts/reference/attention_einsum_forms.py 1
"""
import os, sys, time
os.environ["TF_ENABLE_ONEDNN_OPTS"] = sys.argv[1] if len(sys.argv) > 1 else "1"
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
b, s, h, d = 12, 64, 4, 32
N = 40
qs = [tf.random.normal([b, s, h, d]) for _ in range(N)]
k = tf.random.normal([b, s, h, d])
qhs = [tf.transpose(q, [0, 2, 1, 3]) for q in qs]
kh = tf.transpose(k, [0, 2, 1, 3])


def chained(op):
    @tf.function
    def f(xs, y):
        outs, prev = [], None
        for x in xs:
            with tf.control_dependencies([prev] if prev is not None else []):
                o = op(x, y)
            prev = o
            outs.append(o[0, 0, 0, 0])
        return tf.add_n(outs)
    return f


def per_op_us(f, *args, calls=20):
    for _ in range(3):
        f(*args).numpy()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        f(*args).numpy()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[calls // 2] / N * 1e6


forms = [("einsum bshd,bthd->bhst", chained(lambda q, k: tf.einsum("bshd,bthd->bhst", q, k)), qs, k),
         ("einsum bhsd,bhtd->bhst", chained(lambda q, k: tf.einsum("bhsd,bhtd->bhst", q, k)), qhs, kh),
         ("BatchMatMulV2 adj_y", chained(lambda q, k: tf.linalg.matmul(q, k, transpose_b=True)), qhs, kh),
         ("elementwise multiply", chained(lambda q, k: q * 2.0), qhs, kh)]
for r in range(2):
    print("oneDNN %s, round %d: " % (os.environ["TF_ENABLE_ONEDNN_OPTS"], r + 1)
          + ", ".join("%s %.0f us" % (name, per_op_us(f, x, y)) for name, f, x, y in forms))
