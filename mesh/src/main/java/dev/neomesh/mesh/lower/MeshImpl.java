package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.comm.Comm;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/**
 * The seam between the mesh program and TensorFlow: per-device computation ({@link #slicewise})
 * and the collectives every relayout and reduction is derived from, each given as a planned
 * {@link Comm} step (what to move was decided by the op's plan; how it moves is the
 * implementation's). Implementations decide how devices are addressed and how bytes move; the ops
 * never see a device.
 */
public interface MeshImpl {
  /** Per-device computation: given the TensorFlow scope pinned to one device and its input slices. */
  @FunctionalInterface
  interface SliceFn {
    Operand<?> apply(Ops tf, int pnum, List<Operand<?>> slices);
  }

  MeshShape shape();

  /** TensorFlow ops pinned to device {@code pnum}. */
  Ops tf(int pnum);

  default int size() {
    return shape().size();
  }

  LaidOutTensor slicewise(SliceFn fn, List<LaidOutTensor> inputs);

  /** Carries out one planned step on {@code x}. */
  LaidOutTensor run(Comm step, LaidOutTensor x);
}
