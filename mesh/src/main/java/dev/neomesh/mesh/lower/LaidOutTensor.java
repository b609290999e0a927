package dev.neomesh.mesh.lower;

import java.util.List;
import org.tensorflow.Operand;

/**
 * A mesh tensor after lowering: one TensorFlow value per device, in device (pnum) order, each the
 * slice that device holds under the tensor's layout. Replicas hold equal values.
 */
public interface LaidOutTensor {
  List<Operand<?>> slices();

  default Operand<?> slice(int pnum) {
    return slices().get(pnum);
  }

  static LaidOutTensor of(List<? extends Operand<?>> slices) {
    return new SliceList(List.copyOf(slices));
  }

  /** The plain implementation: a list of per-device values. */
  record SliceList(List<Operand<?>> slices) implements LaidOutTensor {}
}
