package dev.neomesh.mesh.lower;

/**
 * Choices a lowering makes that change how an op is computed, never what it computes or
 * communicates; passed to {@link MeshRuntime#create} as a value (no global switch).
 *
 * @param fusedKernels use TensorFlow's fused kernels where the plain form takes several ops: the
 *     {@code Softmax} kernel, and a {@code Gather} / {@code UnsortedSegmentSum} for an embedding
 *     lookup and its table gradient. Off, the same program lowers to elementwise ops and einsums, so
 *     a benchmark can compare both ({@code scripts/bench gpt-step --compare_unfused}) and a suspected
 *     kernel can be ruled out.
 * @param allreduceBucketBytes when above 0, pending sums that are ready together are carried out as
 *     one allreduce of up to about this many bytes per device ({@link AllreduceBuckets}): the same
 *     bytes in fewer collectives, which a cluster's per-transfer cost rewards. 0 resolves each sum
 *     on its own, as the cost model counts collectives (tests that compare counters with the cost
 *     model use that).
 */
public record LoweringOptions(boolean fusedKernels, long allreduceBucketBytes) {
  /** Fused kernels on, each pending sum resolved on its own. */
  public static final LoweringOptions DEFAULT = new LoweringOptions(true, 0);

  /**
   * What training runs with: fused kernels, and pending sums bucketed into allreduces of up to 1 MB.
   * Small gradients (biases, norms, the small matrices of a small model) then share collectives,
   * while a big model's large matrices keep one each, reduced as soon as the backward pass has made
   * them. PyTorch DDP's 25 MB buckets measured worse here: they leave a 43 MB model two collectives
   * at the very end of the step, with nothing left to overlap (docs/BENCHMARKS.md, "Data parallel
   * over worker processes").
   */
  public static final LoweringOptions TRAINING = DEFAULT.withAllreduceBuckets(1_000_000);

  /** Every op in its plain, unfused form. */
  public static final LoweringOptions UNFUSED = new LoweringOptions(false, 0);

  /** These options with pending sums bucketed up to {@code bytes} per collective (0: off). */
  public LoweringOptions withAllreduceBuckets(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("allreduce bucket bytes must be 0 (off) or positive, not " + bytes);
    }
    return new LoweringOptions(fusedKernels, bytes);
  }
}
