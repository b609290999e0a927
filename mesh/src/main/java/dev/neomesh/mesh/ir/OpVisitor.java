package dev.neomesh.mesh.ir;

/**
 * One method per op class of the sealed {@link Op} hierarchy, so code that must treat every kind of
 * op (the cost model's per-op work) is checked for completeness by the compiler: a new op class
 * must implement {@link Op#accept}, which needs a method here, which every visitor must then
 * implement. (Java 17 has sealed classes but not yet pattern matching in {@code switch}; this is
 * the exhaustive switch over op types it allows.)
 */
public interface OpVisitor<R> {
  R visit(AdamUpdateOp op);

  R visit(AfterOp op);

  R visit(AssignOp op);

  R visit(BinaryOp op);

  R visit(CastOp op);

  R visit(ConcatOp op);

  R visit(ConstantOp op);

  R visit(CumsumOp op);

  R visit(EinsumOp op);

  R visit(ImportOp op);

  R visit(OneHotOp op);

  R visit(PadOp op);

  R visit(RandomOp op);

  R visit(RangeOp op);

  R visit(ReduceOp op);

  R visit(ReshapeOp op);

  R visit(ShiftOp op);

  R visit(StateWriteOp op);

  R visit(SliceOp op);

  R visit(SoftmaxOp op);

  R visit(StopGradientOp op);

  R visit(TopKOp op);

  R visit(UnaryOp op);

  R visit(VariableOp op);

  R visit(WhereOp op);
}
