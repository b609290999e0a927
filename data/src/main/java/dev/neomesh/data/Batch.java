package dev.neomesh.data;

/**
 * One training batch: {@code inputs} and {@code labels} are row-major {@code [batchSize, nCtx]}, and
 * {@code labels[r][i] = inputs[r][i + 1]} within each sampled window of n_ctx + 1 tokens.
 */
public record Batch(long step, int batchSize, int nCtx, int[] inputs, int[] labels) {
  public int[][] inputs2d() {
    return rows(inputs);
  }

  public int[][] labels2d() {
    return rows(labels);
  }

  private int[][] rows(int[] flat) {
    int[][] out = new int[batchSize][nCtx];
    for (int r = 0; r < batchSize; r++) System.arraycopy(flat, r * nCtx, out[r], 0, nCtx);
    return out;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Batch b && b.step == step && b.batchSize == batchSize && b.nCtx == nCtx
        && java.util.Arrays.equals(b.inputs, inputs) && java.util.Arrays.equals(b.labels, labels);
  }

  @Override
  public int hashCode() {
    return java.util.Arrays.hashCode(inputs) * 31 + Long.hashCode(step);
  }

  @Override
  public String toString() {
    return "Batch[step=" + step + ", " + batchSize + "x" + nCtx + "]";
  }
}
