package dev.neomesh.models.bench;

import dev.neomesh.layout.Calibration;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.PlacementMeshImpl;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.types.TFloat32;

/**
 * The matmul peak a step's FLOPs are measured against: TensorFlow's own 2048 x 2048 x 2048 float32
 * matmul, one chain of them on every device of {@code devices} at once, in a session with the
 * same threads as the step's (so x:1 with two intra-op threads splits each product over both
 * cores, and x:2 with one runs two products side by side). The MFU is the step's einsum
 * FLOPs per second over this.
 */
final class MatmulPeak {
  private static final int N = 2048;
  private static final int CHAIN = 3;

  private MatmulPeak() {}

  /** FLOP/s of the devices together: {@link #CHAIN} chained products per device, less the inputs' making. */
  static double flopsPerSecond(Devices devices) {
    int d = devices.size();
    try (Graph graph = new Graph(); Session session = new Session(graph, devices.config())) {
      PlacementMeshImpl mesh = new PlacementMeshImpl(graph, MeshShape.parse("x:" + d), devices);
      // entries in [0, 2/N): products of such matrices stay near 1, never denormal or infinite
      LaidOutTensor a = mesh.slicewise((tf, p, in) -> tf.math.mul(tf.random.randomUniform(
          tf.constant(new long[] {N, N}), TFloat32.class), tf.constant(2f / N)), List.of());
      LaidOutTensor product = a;
      for (int i = 0; i < CHAIN; i++) {
        product = mesh.slicewise((tf, p, in) -> tf.linalg.matMul((Operand<TFloat32>) in.get(0),
            (Operand<TFloat32>) in.get(1)), List.of(product, a));
      }
      double seconds = Calibration.time(session, product, 5) - Calibration.time(session, a, 5);
      return 2.0 * N * N * N * CHAIN * d / Math.max(seconds, 1e-9);
    }
  }
}
