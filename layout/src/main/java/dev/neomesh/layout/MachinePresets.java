package dev.neomesh.layout;

import dev.neomesh.mesh.NeomeshException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Published figures of machines that are not this one, for {@code --machine NAME}: planning GPT-Neo's
 * TPU configs should estimate TPU time, not this CPU's. Each device is one accelerator (a GPU, or a
 * TPU v3 core, which is what GPT-Neo's mesh sizes count). Peak matmul FLOP/s are the vendors' dense
 * bfloat16 figures; elementwise work is bound by memory bandwidth (8 bytes moved per float32 element:
 * a read and a write); transfers between devices of one server (one process) go at the NVLink
 * or ICI rate per direction, between servers (cross-task) at the server's network rate per GPU. The
 * per-transfer and per-op latencies are round estimates (no vendor publishes them): a few
 * microseconds for a kernel launch or an NVLink copy, ten for a network message. Sources and
 * derivations: docs/PLANNER.md, "Machines".
 *
 * @param memoryBytes memory per device, the planner's default budget under this machine
 * @param devicesPerServer devices of one server (one process); 0 when the whole machine is one fabric
 */
public record MachinePresets(String name, String description, MachineConstants constants, long memoryBytes,
                             int devicesPerServer) {
  private static final long GIB = 1L << 30;
  private static final long GB = 1_000_000_000L;

  private static final Map<String, MachinePresets> PRESETS = new LinkedHashMap<>();

  static {
    // NVIDIA A100 SXM4 80GB datasheet: 312 TFLOP/s bf16 dense, 2,039 GB/s HBM2e, NVLink 600 GB/s (both
    // directions); DGX A100: 8 GPUs, 8 x 200 Gb/s HDR InfiniBand (25 GB/s per GPU)
    add(new MachinePresets("a100", "NVIDIA A100 SXM4 80GB, 8 per server (DGX A100)",
        constants(312e12, 2039e9 / 8, 300e9, 5e-6, 25e9, 10e-6, 5e-6, "preset a100"), 80 * GB, 8));
    // NVIDIA H100 SXM5 80GB datasheet: 989 TFLOP/s bf16 dense, 3.35 TB/s HBM3, NVLink 900 GB/s (both
    // directions); DGX H100: 8 GPUs, 8 x 400 Gb/s NDR InfiniBand (50 GB/s per GPU)
    add(new MachinePresets("h100", "NVIDIA H100 SXM5 80GB, 8 per server (DGX H100)",
        constants(989e12, 3350e9 / 8, 450e9, 5e-6, 50e9, 10e-6, 5e-6, "preset h100"), 80 * GB, 8));
    // Cloud TPU v3 (cloud.google.com/tpu/docs/v3): per chip of two cores 123 TFLOP/s bf16, 32 GiB HBM2 at
    // 900 GB/s; a 1024-chip pod's all-reduce bandwidth 340 TB/s (332 GB/s per chip); a device is a core
    add(new MachinePresets("tpu-v3", "Cloud TPU v3, per core (GPT-Neo's meshes count cores; 2 per chip)",
        constants(123e12 / 2, 900e9 / 2 / 8, 332e9 / 2, 2e-6, 332e9 / 2, 2e-6, 1e-6, "preset tpu-v3"), 16 * GIB, 0));
  }

  private static MachineConstants constants(double flops, double elements, double bytes, double transfer,
      double crossBytes, double crossTransfer, double op, String source) {
    return new MachineConstants(flops, elements, bytes, transfer, crossBytes, crossTransfer, op, 0, source);
  }

  private static void add(MachinePresets p) {
    PRESETS.put(p.name(), p);
  }

  /** The preset called {@code name} (case-insensitive); a clear error naming the presets otherwise. */
  public static MachinePresets named(String name) {
    MachinePresets p = PRESETS.get(name.toLowerCase(java.util.Locale.ROOT));
    if (p == null) {
      throw new NeomeshException("--machine \"" + name + "\" is not a known machine; the presets are "
          + String.join(", ", PRESETS.keySet()) + " (or plan for this machine without --machine; --calibrate"
          + " measures it)");
    }
    return p;
  }

  public static Map<String, MachinePresets> all() {
    return java.util.Collections.unmodifiableMap(PRESETS);
  }

  /** Devices per task for a mesh of {@code devices} on this machine: servers are tasks when the mesh spans several. */
  public int devicesPerTask(int devices) {
    return devicesPerServer > 0 && devices > devicesPerServer ? devicesPerServer : 0;
  }
}
