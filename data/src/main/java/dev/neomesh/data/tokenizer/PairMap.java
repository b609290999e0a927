package dev.neomesh.data.tokenizer;

import java.util.Arrays;

/** Open-addressing map from a token pair (two non-negative ints) to a long, without boxing. */
final class PairMap {
  private long[] keys;
  private long[] values;
  private int size;
  private static final long EMPTY = -1L;

  PairMap(int capacity) {
    int cap = Integer.highestOneBit(Math.max(16, capacity * 2) - 1) << 1;
    keys = new long[cap];
    values = new long[cap];
    Arrays.fill(keys, EMPTY);
  }

  static long key(int a, int b) {
    return ((long) a << 32) | (b & 0xffffffffL);
  }

  static int first(long key) {
    return (int) (key >>> 32);
  }

  static int second(long key) {
    return (int) key;
  }

  private int slot(long key) {
    long h = key * 0x9E3779B97F4A7C15L;
    int mask = keys.length - 1;
    int i = (int) (h >>> 40) & mask;
    while (keys[i] != EMPTY && keys[i] != key) i = (i + 1) & mask;
    return i;
  }

  /** The value for {@code key}, or {@code missing}. */
  long get(long key, long missing) {
    int i = slot(key);
    return keys[i] == EMPTY ? missing : values[i];
  }

  void put(long key, long value) {
    int i = slot(key);
    if (keys[i] == EMPTY) {
      keys[i] = key;
      if (++size * 2 > keys.length) {
        values[i] = value;
        grow();
        return;
      }
    }
    values[i] = value;
  }

  /** Adds {@code delta} to the value (missing counts as 0) and returns the new value. */
  long add(long key, long delta) {
    int i = slot(key);
    if (keys[i] == EMPTY) {
      put(key, delta);
      return delta;
    }
    return values[i] += delta;
  }

  private void grow() {
    long[] k = keys;
    long[] v = values;
    keys = new long[k.length * 2];
    values = new long[k.length * 2];
    Arrays.fill(keys, EMPTY);
    size = 0;
    for (int i = 0; i < k.length; i++) {
      if (k[i] != EMPTY) {
        int s = slot(k[i]);
        keys[s] = k[i];
        values[s] = v[i];
        size++;
      }
    }
  }
}
