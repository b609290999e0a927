"""Writes an HDF5 file in Cerebras' GPT layout, for neomesh's HDF5 input tests (Hdf5InputTest).

The file holds one dataset, "data", of shape [n, 3, seq]: row 0 the input ids, row 1 the attention
mask, row 2 the labels (the ids shifted by one, as Cerebras' preprocessing writes them). Each sample
is `seq + 1` random ids in [2, vocab); its last `--masked` positions have mask 0, input id
`--pad_id`, and label `--masked_label` (a value other than the dataset's padding_id, so a test can
see that the reader replaces it). Prints the array written as JSON, {"data": [[ids, mask, labels],
...]}, so the test compares against what h5py stored rather than a copy of this formula.

--layout makes the malformed files the reader must refuse: "no_data" (the array under another
name), "rank2" ([n, 3 * seq]), "middle4" ([n, 4, seq], an extra row).

    python write_cerebras_hdf5.py out.h5 --n 6 --seq 8 --vocab 50 --seed 1 --masked 2
"""
import argparse
import json

import h5py
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seq", type=int, default=8)
    p.add_argument("--vocab", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--masked", type=int, default=0, help="masked positions at the end of each sample")
    p.add_argument("--pad_id", type=int, default=0)
    p.add_argument("--masked_label", type=int, default=7)
    p.add_argument("--dtype", default="int32", choices=["int32", "int64"])
    p.add_argument("--chunked", action="store_true", help="one HDF5 chunk per sample, gzip (as Cerebras writes)")
    p.add_argument("--layout", default="cerebras", choices=["cerebras", "no_data", "rank2", "middle4"])
    a = p.parse_args()

    rng = np.random.default_rng(a.seed)
    tokens = rng.integers(2, a.vocab, size=(a.n, a.seq + 1))
    data = np.zeros((a.n, 3, a.seq), dtype=a.dtype)
    data[:, 0, :] = tokens[:, :-1]
    data[:, 1, :] = 1
    data[:, 2, :] = tokens[:, 1:]
    if a.masked:
        data[:, 0, a.seq - a.masked:] = a.pad_id
        data[:, 1, a.seq - a.masked:] = 0
        data[:, 2, a.seq - a.masked:] = a.masked_label

    name, array = "data", data
    if a.layout == "no_data":
        name = "input_ids"
    elif a.layout == "rank2":
        array = data.reshape(a.n, 3 * a.seq)
    elif a.layout == "middle4":
        array = np.concatenate([data, data[:, :1, :]], axis=1)
    with h5py.File(a.out, "w") as f:
        if a.chunked:
            f.create_dataset(name, data=array, chunks=(1,) + array.shape[1:], compression="gzip")
        else:
            f.create_dataset(name, data=array)
        f.attrs["n_examples"] = a.n
    print(json.dumps({"data": data.tolist()}))


if __name__ == "__main__":
    main()
