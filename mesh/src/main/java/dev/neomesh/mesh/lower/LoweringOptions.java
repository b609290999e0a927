package dev.neomesh.mesh.lower;

/**
 * Choices a lowering makes that change how an op is computed, never what it computes or
 * communicates; passed to {@link MeshRuntime#create} as a value (no global switch).
 *
 * @param fusedKernels use TensorFlow's fused kernels where the plain form takes several ops: the
 *     {@code Softmax} kernel, a {@code Gather} / {@code UnsortedSegmentSum} for an embedding
 *     lookup and its table gradient, and {@code BiasAdd} on a dense layer's {@code MatMul} (which
 *     TensorFlow fuses, {@link BiasAdd}). Off, the same program lowers to elementwise ops and einsums, so
 *     a benchmark can compare both ({@code scripts/bench gpt-step --compare_unfused}) and a suspected
 *     kernel can be ruled out.
 * @param allreduceBucketBytes when above 0, pending sums that are ready together are carried out as
 *     one allreduce of up to about this many bytes per device ({@link AllreduceBuckets}): the same
 *     bytes in fewer collectives, which a cluster's per-transfer cost rewards. 0 resolves each sum
 *     on its own, as the cost model counts collectives (tests that compare counters with the cost
 *     model use that).
 * @param jit which of each device's ops TensorFlow compiles with XLA ({@link Jit}); communication
 *     between devices stays TensorFlow's sends and receives either way.
 */
public record LoweringOptions(boolean fusedKernels, long allreduceBucketBytes, Jit jit) {
  /**
   * What of each device's part of a step XLA compiles. TensorFlow clusters the marked ops of one
   * device (never across devices, never across the scopes of two devices), and runs each cluster as
   * one compiled kernel; what XLA cannot compile stays a TensorFlow kernel.
   */
  public enum Jit {
    /** Nothing: every op is a TensorFlow kernel. */
    NONE,
    /** Every op of a device that XLA can compile, matmuls included. */
    DEVICE,
    /**
     * All but the matmuls and einsums, which stay TensorFlow's oneDNN kernels: XLA fuses the
     * elementwise and reduction chains between them (GELU, layer norm, softmax's surroundings, Adam).
     */
    ELEMENTWISE;

    /** Whether ops of TensorFlow type {@code opType} are marked for compilation. */
    public boolean compiles(String opType) {
      return switch (this) {
        case NONE -> false;
        case DEVICE -> true;
        case ELEMENTWISE -> !MATMULS.contains(opType);
      };
    }

    private static final java.util.Set<String> MATMULS = java.util.Set.of("MatMul", "BatchMatMulV2", "BatchMatMulV3",
        "Einsum");

    /** The mode named {@code name} ({@code none}, {@code device}, {@code elementwise}), or a message listing them. */
    public static Jit parse(String name) {
      for (Jit j : values()) {
        if (j.name().equalsIgnoreCase(name)) {
          return j;
        }
      }
      throw new IllegalArgumentException("unknown XLA mode \"" + name + "\": use none, device or elementwise");
    }
  }

  /** Fused kernels on, each pending sum resolved on its own. */
  public static final LoweringOptions DEFAULT = new LoweringOptions(true, 0, Jit.NONE);

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
  public static final LoweringOptions UNFUSED = new LoweringOptions(false, 0, Jit.NONE);

  /** These options with pending sums bucketed up to {@code bytes} per collective (0: off). */
  public LoweringOptions withAllreduceBuckets(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("allreduce bucket bytes must be 0 (off) or positive, not " + bytes);
    }
    return new LoweringOptions(fusedKernels, bytes, jit);
  }

  /** These options with {@code mode}'s XLA compilation. */
  public LoweringOptions withJit(Jit mode) {
    return new LoweringOptions(fusedKernels, allreduceBucketBytes, mode);
  }
}
