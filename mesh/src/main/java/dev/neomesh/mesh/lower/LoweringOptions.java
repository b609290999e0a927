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
 */
public record LoweringOptions(boolean fusedKernels) {
  /** Fused kernels on. */
  public static final LoweringOptions DEFAULT = new LoweringOptions(true);

  /** Every op in its plain, unfused form. */
  public static final LoweringOptions UNFUSED = new LoweringOptions(false);
}
