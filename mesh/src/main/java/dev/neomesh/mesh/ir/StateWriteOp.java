package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.lower.LaidOutTensor;
import dev.neomesh.mesh.lower.LoweringContext;
import dev.neomesh.mesh.lower.Tf;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt32;

/**
 * Writes into a state variable while a run computes (a key/value cache, a running sum: state that
 * is not trained) and outputs the variable's value after the write. Unlike {@link AssignOp},
 * whose updates a step runs all together after the fetches, the write runs as soon as anything
 * downstream of the output is fetched, and everything reading the output sees the new value; so
 * one graph can hold several programs (a prefill, a one-token step), each writing only its own
 * state. A program must read the state through this output, not the variable's start-of-run value.
 *
 * <ul>
 * <li>Whole: the value has the variable's dims; each device assigns its slice.
 * <li>Block: the value has the variable's dims with {@code dim} replaced by a block dim of B
 *     entries, which must be unsplit; it is written at {@code [offset, offset+B)} of {@code dim}
 *     (a run-time int32 scalar), in place, so a step costs the block, not the whole variable.
 *     {@code dim} may be split: each device writes the part of the block inside its slice (which
 *     may be none), so a cache split along its length still takes one write per device. A block
 *     running past the end of {@code dim} is cut there.
 * <li>Ring: a block whose offset is taken modulo the dim's size, and which continues at the start
 *     of the dim where it runs past the end (a ring buffer of the last entries written).
 * </ul>
 */
public final class StateWriteOp extends Op implements UnsplitDimOp {
  private final VariableOp variable;
  private final String dim;
  private final String blockDim;
  private final boolean ring;

  StateWriteOp(MeshGraph g, VariableOp variable, MeshTensor value, MeshTensor offset, String dim, boolean ring) {
    super(g, "write_" + variable.name(), offset == null ? List.of(value) : List.of(value, offset));
    Shape target = variable.output().shape();
    if (value.dtype() != variable.output().dtype()) {
      throw new IllegalArgumentException("cannot write " + value.dtype() + " into " + variable.output());
    }
    if (variable.trainable()) {
      throw new IllegalArgumentException("state writes are for state variables, not trainable " + variable.name());
    }
    this.variable = variable;
    this.dim = dim;
    this.ring = ring;
    if (offset == null) {
      if (!value.shape().sameDims(target)) {
        throw new IllegalArgumentException("cannot write " + value + " into variable " + variable.output());
      }
      this.blockDim = null;
    } else {
      if (offset.shape().rank() != 0 || offset.dtype() != DType.INT32) {
        throw new IllegalArgumentException("a block's offset is an int32 scalar, got " + offset);
      }
      Dim block = blockDimOf(value.shape(), target, dim);
      if (ring && block.size() > target.dim(dim).size()) {
        throw new IllegalArgumentException("a block of " + block.size() + " does not fit a ring of " + target.dim(dim));
      }
      this.blockDim = block.name();
    }
    addOutput(target, variable.output().dtype());
  }

  /** The dim of {@code value} standing for {@code dim} of the target: the one the target lacks. */
  private static Dim blockDimOf(Shape value, Shape target, String dim) {
    IllegalArgumentException notABlock =
        new IllegalArgumentException("a block of " + target + " along " + dim + " cannot be " + value);
    if (value.rank() != target.rank() || !target.contains(dim)) {
      throw notABlock;
    }
    Dim block = null;
    for (Dim d : value.dims()) {
      if (!target.contains(d.name())) {
        if (block != null) {
          throw notABlock;
        }
        block = d;
      } else if (target.dim(d.name()).size() != d.size() || d.name().equals(dim)) {
        throw notABlock;
      }
    }
    if (block == null) {
      throw notABlock;
    }
    return block;
  }

  public VariableOp variable() {
    return variable;
  }

  /** The block dim, which must be unsplit (null for a whole write). */
  @Override
  public String dim() {
    return blockDim;
  }

  @Override
  public boolean hasGradient() {
    return false;
  }

  @Override
  public void lower(LoweringContext l) {
    MeshTensor value = inputs().get(0);
    List<Operand<?>> handles = l.variable(variable).handles();
    Shape target = variable.output().shape();
    // the value's dims in the variable's order, the block dim standing for dim
    int[] perm = new int[target.rank()];
    for (int i = 0; i < perm.length; i++) {
      String name = target.get(i).name();
      perm[i] = value.shape().indexOf(name.equals(dim) ? blockDim : name);
    }
    if (blockDim != null) {
      UnsplitDims.require(l, value, blockDim, name());
    }
    LaidOutTensor v = l.get(value);
    LaidOutTensor offset = blockDim == null ? null : l.get(inputs().get(1));
    TensorLayout layout = l.layout(output());
    Rows rows = blockDim == null ? null : Rows.of(layout.sliceShape().sizes(), target.indexOf(dim));
    List<Operand<?>> after = new ArrayList<>();
    for (int p = 0; p < l.mesh().size(); p++) {
      Ops tf = l.tf(p);
      Operand<?> slice = Tf.transpose(tf, v.slice(p), perm);
      Operand<?> read;
      if (blockDim == null) {
        org.tensorflow.op.Op write = tf.assignVariableOp(handles.get(p), slice);
        read = tf.withControlDependencies(List.of(write)).readVariableOp(handles.get(p), output().dtype().tfType());
      } else {
        @SuppressWarnings("unchecked")
        Operand<TInt32> off = (Operand<TInt32>) offset.slice(p);
        int begin = (int) layout.sliceBegin(p)[target.indexOf(dim)];
        // a reshape of the read, so it shares the variable's buffer
        read = Tf.reshape(tf, tf.readVariableOp(handles.get(p), output().dtype().tfType()), rows.shape());
        if (!ring) {
          read = writeBlock(tf, read, slice, off, rows, begin);
        } else {
          // at offset mod n, and the part past the end at offset mod n - n, which lands at 0
          Operand<TInt32> n = tf.constant(target.dim(dim).size());
          Operand<TInt32> wrapped = tf.math.floorMod(off, n);
          read = writeBlock(tf, read, slice, wrapped, rows, begin);
          read = writeBlock(tf, read, slice, tf.math.sub(wrapped, n), rows, begin);
        }
        read = Tf.reshape(tf, read, layout.sliceShape().sizes());
      }
      after.add(read);
    }
    l.set(output(), LaidOutTensor.of(after));
  }

  /**
   * A device's slice seen as rows {@code [before * length, after]}: the dims before {@code dim},
   * {@code dim} (its slice {@code length}), then the rest flattened, so that an entry of {@code dim}
   * is one row per combination of the dims before it. {@code sizes}: the slice's dims in the
   * variable's order; {@code sizes[i]} is dim's.
   */
  private record Rows(long before, int length, long after, long[] sizes, int i) {
    static Rows of(long[] sizes, int i) {
      long before = 1;
      long after = 1;
      for (int d = 0; d < sizes.length; d++) {
        if (d < i) {
          before *= sizes[d];
        } else if (d > i) {
          after *= sizes[d];
        }
      }
      return new Rows(before, (int) sizes[i], after, sizes, i);
    }

    long[] shape() {
      return new long[] {before * length, after};
    }
  }

  /**
   * Writes a device's part of the block into its {@code rows}, in place: the entries {@code [lo,
   * hi)} of its slice (clamped to it; the slice starts at entry {@code begin} of dim), taken from the
   * block at {@code lo + begin - offset}; an empty range writes nothing, and the offset may be
   * negative (the block's entries before 0 are cut).
   *
   * <p>Why InplaceUpdate on the read, not ResourceStridedSliceAssign: TensorFlow marks a variable
   * that a sparse op has written "copy on read", after which every ReadVariableOp copies it whole,
   * which for a cache costs the whole cache per token. InplaceUpdate writes the rows into the buffer
   * of its input, which is the read's (a reshape of it), and so into the variable's own buffer; its
   * output aliases that buffer, so the run's consumers read the write, and the next run starts from
   * it. {@code StateWriteTest} checks both on every layout.
   */
  private Operand<?> writeBlock(Ops tf, Operand<?> rows, Operand<?> block, Operand<TInt32> off, Rows shape,
      int begin) {
    int blockSize = inputs().get(0).shape().dim(blockDim).size();
    Operand<TInt32> zero = tf.constant(0);
    Operand<TInt32> len = tf.constant(shape.length());
    Operand<TInt32> local = tf.math.sub(off, tf.constant(begin));
    Operand<TInt32> lo = tf.math.minimum(tf.math.maximum(local, zero), len);
    Operand<TInt32> hi = tf.math.minimum(tf.math.maximum(tf.math.add(local, tf.constant(blockSize)), zero), len);
    int rank = shape.sizes().length;
    int[] unit = new int[rank];
    int[] full = new int[rank];
    for (int d = 0; d < rank; d++) {
      unit[d] = d == shape.i() ? 1 : 0;
      full[d] = d == shape.i() ? 0 : (int) shape.sizes()[d];
    }
    Operand<TInt32> e = tf.constant(unit);
    // block entries from lo - local; clamped into the block, as an empty part may start anywhere there
    Operand<TInt32> first = tf.math.minimum(tf.math.maximum(tf.math.sub(lo, local), zero), tf.constant(blockSize));
    Operand<TInt32> size = tf.math.add(tf.constant(full), tf.math.mul(e, tf.math.sub(hi, lo)));
    Operand<?> part = tf.slice(block, tf.math.mul(e, first), size);
    // row of (combination c of the dims before dim, entry m) is c * length + m; the part's rows, in that order
    Operand<TInt32> starts = tf.math.mul(tf.range(zero, tf.constant((int) shape.before()), tf.constant(1)), len);
    Operand<TInt32> entries = tf.range(lo, hi, tf.constant(1));
    Operand<TInt32> index = tf.reshape(tf.math.add(tf.expandDims(starts, tf.constant(1)),
        tf.expandDims(entries, tf.constant(0))), tf.constant(new int[] {-1}));
    @SuppressWarnings({"unchecked", "rawtypes"})
    Operand<?> values = tf.reshape((Operand) part, tf.constant(new long[] {-1, shape.after()}));
    @SuppressWarnings({"unchecked", "rawtypes"})
    Operand<?> updated = tf.inplaceUpdate((Operand) rows, index, (Operand) values);
    return updated;
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
