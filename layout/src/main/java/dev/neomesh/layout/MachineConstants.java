package dev.neomesh.layout;

/**
 * What the step-time estimate needs to know about the machine, per device: how fast it multiplies
 * (einsum FLOP/s), how fast it streams elementwise work (elements/s), how fast bytes move between
 * two devices, the fixed cost of one step of a collective (latency), the fixed cost of one op,
 * and how many devices really compute at once ({@code concurrency}; 0 means all of them, as on
 * real accelerators; virtual CPU devices share the host's cores).
 */
public record MachineConstants(double matmulFlopsPerSecond, double elementwisePerSecond, double bytesPerSecond,
                               double collectiveLatencySeconds, double opOverheadSeconds, int concurrency,
                               String source) {
  /**
   * Used when no calibration file exists: round figures of one core of a 2020s x86 server under
   * TensorFlow's CPU kernels (20 GFLOP/s matmul, 1e9 elements/s, 5 GB/s between devices, 20 us
   * per collective step, 5 us per op), every device computing at once.
   */
  public static final MachineConstants DEFAULTS = new MachineConstants(20e9, 1e9, 5e9, 20e-6, 5e-6, 0,
      "defaults");

  /** The factor by which per-device work stretches when {@code devices} share {@code concurrency} workers. */
  public double stretch(int devices) {
    return concurrency <= 0 || devices <= concurrency ? 1.0 : (double) devices / concurrency;
  }
}
