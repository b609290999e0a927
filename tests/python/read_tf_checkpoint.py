"""Prints what TensorFlow Python reads from a checkpoint, for neomesh's Java tests.

Usage: read_tf_checkpoint.py PREFIX

Reads PREFIX (e.g. /tmp/run/ckpt-10) with tf.train.list_variables and
tf.train.load_checkpoint(PREFIX).get_tensor(name), the way a user would, and prints
one line per variable, tab-separated, so Java parses it without a JSON library:

    list<TAB>NAME<TAB>SHAPE                    one per tf.train.list_variables entry
    tensor<TAB>NAME<TAB>DTYPE<TAB>SHAPE<TAB>VALUES   one per variable, values of get_tensor

SHAPE is comma-separated sizes ("" for a scalar), DTYPE TensorFlow's name (float32,
bfloat16, int64, ...), VALUES the elements in C (row-major) order, space-separated, each
written by Python's repr of the exact float64 (or int) so they round-trip to Java's
Double.parseDouble bit for bit.
"""
import sys

import numpy as np
import tensorflow as tf


def main(prefix):
    out = []
    for name, shape in tf.train.list_variables(prefix):
        out.append("\t".join(["list", name, ",".join(str(d) for d in shape)]))
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    for name in sorted(dtypes):
        value = np.asarray(reader.get_tensor(name))
        if dtypes[name].is_integer or dtypes[name] == tf.bool:
            flat = [str(int(v)) for v in value.ravel()]
        else:
            # bfloat16 and float32 widen exactly to float64
            flat = [repr(float(v)) for v in value.astype(np.float64).ravel()]
        out.append("\t".join(["tensor", name, dtypes[name].name,
                              ",".join(str(d) for d in value.shape), " ".join(flat)]))
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
