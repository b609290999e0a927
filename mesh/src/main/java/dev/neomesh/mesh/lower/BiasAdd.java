package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.Shape;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;

/**
 * A dense layer's bias add on one device, in the form TensorFlow's graph optimizer fuses into its
 * matmul ({@code _FusedMatMul} with {@code BiasAdd}; oneDNN's {@code _MklNativeFusedMatMul} when oneDNN is on):
 * {@code BiasAdd(MatMul(x, w), b)}. A named einsum lowers to {@code Reshape(MatMul)} ({@link
 * LocalEinsum}), and the plain add of {@code [batch, sequence, out] + [out]} would sit after that
 * reshape, where the remapper does not look. Here the add moves before the reshape; the einsum's own
 * reshape is then read by nobody and TensorFlow prunes it. Same values: a bias add is the same sum.
 */
public final class BiasAdd {
  private BiasAdd() {}

  /**
   * {@code x + bias} as {@code Reshape(BiasAdd(MatMul, bias))} when {@code x} (slice shape {@code
   * xSlice}, the output's) is a reshaped {@code MatMul} whose columns are exactly the last dim of
   * {@code xSlice} and {@code bias} is that dim alone; null otherwise (the caller adds as usual).
   */
  public static Operand<?> fused(Ops tf, Operand<?> x, Shape xSlice, Operand<?> bias, Shape biasSlice) {
    if (biasSlice.rank() != 1 || xSlice.rank() < 2
        || !xSlice.get(xSlice.rank() - 1).name().equals(biasSlice.get(0).name())) {
      return null;
    }
    Output<?> matMul = matMulUnder(x);
    if (matMul == null) {
      return null;
    }
    org.tensorflow.ndarray.Shape mm = matMul.shape();
    if (mm.numDimensions() != 2 || mm.size(1) != biasSlice.get(0).size()) {
      return null;
    }
    return Tf.reshape(tf, biasAdd(tf, matMul, bias), xSlice.sizes());
  }

  /** The MatMul that {@code x} reshapes, or null. */
  private static Output<?> matMulUnder(Operand<?> x) {
    if (!(x.op() instanceof GraphOperation reshape) || !reshape.type().equals("Reshape")) {
      return null;
    }
    Output<?> in = reshape.input(0);
    return in.op().type().equals("MatMul") ? in : null;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Operand<?> biasAdd(Ops tf, Operand matMul, Operand bias) {
    return tf.nn.biasAdd(matMul, bias);
  }
}
