package dev.neomesh.layout;

/**
 * What the step-time estimate needs to know about the machine, per worker (a device, or one of
 * the cores that virtual devices share): how fast it multiplies (einsum FLOP/s), how fast it
 * streams elementwise work and copies (elements/s), how fast bytes move between two devices of one
 * process, the fixed cost of one such cross-device transfer (a TensorFlow Send/Recv pair), the same
 * two figures for a transfer between devices of different processes (tasks of a TensorFlow gRPC
 * cluster: {@code crossTaskBytesPerSecond}, {@code crossTaskTransferSeconds}), the fixed cost of
 * one TensorFlow op, and how many workers the devices share ({@code concurrency}; 0 means every
 * device is its own worker, as on real accelerators; virtual CPU devices share the host's cores,
 * so their work adds up).
 */
public record MachineConstants(double matmulFlopsPerSecond, double elementwisePerSecond, double bytesPerSecond,
                               double transferSeconds, double crossTaskBytesPerSecond,
                               double crossTaskTransferSeconds, double opOverheadSeconds, int concurrency,
                               String source) {
  /**
   * Bytes/s of a cross-task transfer when none was measured: TensorFlow's gRPC runtime over
   * loopback moves roughly 1 GB/s (it serialises each tensor into a protocol buffer and copies it
   * through the gRPC stack, far below an in-process memcpy).
   */
  public static final double DEFAULT_CROSS_TASK_BYTES_PER_SECOND = 1e9;

  /**
   * Fixed seconds of one cross-task transfer when none was measured: a loopback gRPC RecvTensor
   * round trip, about 300 us (against tens of microseconds in one process).
   */
  public static final double DEFAULT_CROSS_TASK_TRANSFER_SECONDS = 300e-6;

  /**
   * Used when no calibration file exists: round figures of one core of a 2020s x86 server under
   * TensorFlow's CPU kernels (20 GFLOP/s matmul, 1e9 elements/s, 5 GB/s between devices, 20 us
   * per transfer, 5 us per op), every device computing at once, and the loopback gRPC defaults
   * above between tasks.
   */
  public static final MachineConstants DEFAULTS = new MachineConstants(20e9, 1e9, 5e9, 20e-6,
      DEFAULT_CROSS_TASK_BYTES_PER_SECOND, DEFAULT_CROSS_TASK_TRANSFER_SECONDS, 5e-6, 0, "defaults");

  /** Seconds of {@code w} at these rates: the estimate's step time. */
  public double seconds(Cost.Work w) {
    return w.flops() / matmulFlopsPerSecond + w.elements() / elementwisePerSecond + w.ops() * opOverheadSeconds
        + w.transfers() * transferSeconds + w.bytes() / bytesPerSecond
        + w.crossTaskTransfers() * crossTaskTransferSeconds + w.crossTaskBytes() / crossTaskBytesPerSecond;
  }

  /** These constants with the cross-task figures replaced (what {@link Calibration#measureCrossTask} returns). */
  public MachineConstants withCrossTask(double bytesPerSecond, double transferSeconds, String newSource) {
    return new MachineConstants(matmulFlopsPerSecond, elementwisePerSecond, this.bytesPerSecond, this.transferSeconds,
        bytesPerSecond, transferSeconds, opOverheadSeconds, concurrency, newSource);
  }

  /** Whether devices share workers (virtual CPU devices): then the work of every device adds up. */
  public boolean shared() {
    return concurrency > 0;
  }

  /**
   * The factor by which per-device work stretches when {@code devices} share {@code concurrency}
   * workers: the step takes (sum over devices of the work) / min(devices, concurrency).
   */
  public double stretch(int devices) {
    return concurrency <= 0 || devices <= concurrency ? 1.0 : (double) devices / concurrency;
  }
}
