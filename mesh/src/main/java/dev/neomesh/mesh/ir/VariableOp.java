package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.VarHandleOp;

/**
 * A trainable (or state) variable. Each device keeps one resource variable holding its slice;
 * the initial value is an ordinary mesh tensor (usually layout-invariant random), so every
 * layout starts from the same weights. The output is the value read at the start of a step.
 *
 * <p>A checkpoint stores it as tensor {@link #checkpointName} of dtype {@link #checkpointDtype}: its
 * own name and dtype, unless given others. Several variables may share one checkpoint tensor: a
 * bfloat16 parameter {@code w} and its float32 master {@code w/master} are both checkpointed as the
 * float32 {@code w}, which the master writes ({@link dev.neomesh.mesh.ckpt.Checkpointer}) and both
 * restore from (the parameter cast to bfloat16), so the checkpoint is that of a float32 run.
 */
public final class VariableOp extends Op {
  private final boolean trainable;
  private final String checkpointName;
  private final DType checkpointDtype;

  VariableOp(MeshGraph g, String name, MeshTensor initialValue, boolean trainable) {
    this(g, name, initialValue, trainable, name, initialValue.dtype());
  }

  VariableOp(MeshGraph g, String name, MeshTensor initialValue, boolean trainable, String checkpointName,
      DType checkpointDtype) {
    super(g, name, List.of(initialValue));
    if (checkpointDtype != initialValue.dtype() && !(checkpointDtype.isFloating() && initialValue.dtype().isFloating())) {
      throw new IllegalArgumentException("variable " + name + " of " + initialValue.dtype()
          + " cannot be checkpointed as " + checkpointDtype);
    }
    this.trainable = trainable;
    this.checkpointName = checkpointName;
    this.checkpointDtype = checkpointDtype;
    addOutput(initialValue.shape(), initialValue.dtype());
  }

  public boolean trainable() {
    return trainable;
  }

  /** The name of the checkpoint tensor this variable is saved as and restored from. */
  public String checkpointName() {
    return checkpointName;
  }

  /** The dtype of that tensor (the value is cast to and from it). */
  public DType checkpointDtype() {
    return checkpointDtype;
  }

  public MeshTensor initialValue() {
    return inputs().get(0);
  }

  @Override
  public boolean hasGradient() {
    return false; // the variable's value does not depend on its initial value within a step
  }

  @Override
  @SuppressWarnings({"unchecked", "rawtypes"})
  public void lower(LoweringContext l) {
    TensorLayout layout = l.layout(output());
    long[] slice = layout.sliceShape().sizes();
    LaidOutTensor init = l.get(initialValue());
    List<Operand<?>> handles = new ArrayList<>();
    List<org.tensorflow.op.Op> inits = new ArrayList<>();
    List<Operand<?>> reads = new ArrayList<>();
    for (int p = 0; p < l.mesh().size(); p++) {
      Ops tf = l.tf(p);
      String shared = name() + "/slice_" + p;
      Operand<?> h = tf.withName(name().replace('/', '_') + "_slice_" + p).varHandleOp(output().dtype().tfType(),
          org.tensorflow.ndarray.Shape.of(slice), VarHandleOp.sharedName(shared));
      handles.add(h);
      // state may be written in place (StateWriteOp), so it gets a buffer of its own: AssignVariableOp
      // would share its value's, which for equal constant initial values (merged by the graph
      // optimizer) is one buffer for many variables: without the copy, one layer's key cache was
      // another's (DecodingTest failed)
      inits.add(tf.assignVariableOp(h, trainable ? init.slice(p) : tf.deepCopy((Operand) init.slice(p))));
      reads.add(tf.readVariableOp(h, output().dtype().tfType()));
    }
    l.registerVariable(this, layout, handles, inits);
    l.set(output(), LaidOutTensor.of(reads));
  }

  @Override
  public String toString() {
    return name() + Arrays.toString(output().shape().dims().toArray());
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
