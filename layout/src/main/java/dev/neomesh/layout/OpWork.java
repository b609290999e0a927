package dev.neomesh.layout;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.AdamUpdateOp;
import dev.neomesh.mesh.ir.AssignOp;
import dev.neomesh.mesh.ir.StateWriteOp;
import dev.neomesh.mesh.ir.CumsumOp;
import dev.neomesh.mesh.ir.BinaryOp;
import dev.neomesh.mesh.ir.CastOp;
import dev.neomesh.mesh.ir.ConcatOp;
import dev.neomesh.mesh.ir.ConstantOp;
import dev.neomesh.mesh.ir.EinsumOp;
import dev.neomesh.mesh.ir.ImportOp;
import dev.neomesh.mesh.ir.OneHotOp;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.OpVisitor;
import dev.neomesh.mesh.ir.PadOp;
import dev.neomesh.mesh.ir.RandomOp;
import dev.neomesh.mesh.ir.RangeOp;
import dev.neomesh.mesh.ir.ReduceOp;
import dev.neomesh.mesh.ir.ReshapeOp;
import dev.neomesh.mesh.ir.ShiftOp;
import dev.neomesh.mesh.ir.SliceOp;
import dev.neomesh.mesh.ir.SoftmaxOp;
import dev.neomesh.mesh.ir.StopGradientOp;
import dev.neomesh.mesh.ir.AfterOp;
import dev.neomesh.mesh.ir.TopKOp;
import dev.neomesh.mesh.ir.UnaryOp;
import dev.neomesh.mesh.ir.VariableOp;
import dev.neomesh.mesh.ir.WhereOp;

/**
 * The cost model's view of one op's local work on a device (communication comes from the op's own
 * plan): matmul FLOPs or elementwise passes per element of a shape, and the TensorFlow ops it lowers
 * to. Per element: an einsum costs 2 FLOPs of its input union; elementwise ops and reductions one
 * pass of their output (a reduction: its input); softmax five (max, subtract, exp, sum, divide in one
 * kernel); the fused Adam update eight passes of the parameter (it reads w, m, v and g and writes w,
 * m and v). Data movement inside a device (reshape, slice, shift, top_k's sort) and sources count
 * as no work. An einsum lowers to a reshape per input, the product and a reshape; every other op to one.
 *
 * @param shape the shape whose slice the work scales with (null when there is no work)
 */
record OpWork(boolean matmul, Shape shape, double perElement, int tfOps) {
  private static final OpWork NONE = new OpWork(false, null, 0, 1);

  static OpWork of(Op op) {
    return op.accept(CLASSIFY);
  }

  private static OpWork elementwise(Shape shape, double passes) {
    return new OpWork(false, shape, passes, 1);
  }

  private static final OpVisitor<OpWork> CLASSIFY = new OpVisitor<>() {
    @Override
    public OpWork visit(EinsumOp op) {
      return new OpWork(true, op.union(), 2.0, op.inputs().size() + 2);
    }

    @Override
    public OpWork visit(ReduceOp op) {
      return elementwise(op.inputs().get(0).shape(), 1);
    }

    @Override
    public OpWork visit(BinaryOp op) {
      return elementwise(op.output().shape(), 1);
    }

    @Override
    public OpWork visit(UnaryOp op) {
      return elementwise(op.output().shape(), 1);
    }

    @Override
    public OpWork visit(CastOp op) {
      return elementwise(op.output().shape(), 1);
    }

    @Override
    public OpWork visit(WhereOp op) {
      return elementwise(op.output().shape(), 1);
    }

    @Override
    public OpWork visit(AfterOp op) {
      return elementwise(op.output().shape(), 0);
    }

    @Override
    public OpWork visit(StopGradientOp op) {
      return elementwise(op.output().shape(), 1);
    }

    @Override
    public OpWork visit(OneHotOp op) {
      return elementwise(op.output().shape(), 1);
    }

    @Override
    public OpWork visit(SoftmaxOp op) {
      return elementwise(op.output().shape(), 5);
    }

    @Override
    public OpWork visit(AdamUpdateOp op) {
      return elementwise(op.inputs().get(0).shape(), 8);
    }

    @Override
    public OpWork visit(ReshapeOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(ShiftOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(TopKOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(SliceOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(PadOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(ConcatOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(VariableOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(AssignOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(CumsumOp op) {
      return elementwise(op.output().shape(), 1);
    }

    @Override
    public OpWork visit(StateWriteOp op) {
      return elementwise(op.inputs().get(0).shape(), 1); // the written block (or the whole state)
    }

    @Override
    public OpWork visit(ImportOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(ConstantOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(RandomOp op) {
      return NONE;
    }

    @Override
    public OpWork visit(RangeOp op) {
      return NONE;
    }
  };
}
