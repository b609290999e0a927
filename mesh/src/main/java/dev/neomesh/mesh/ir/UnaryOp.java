package dev.neomesh.mesh.ir;

import dev.neomesh.mesh.lower.LoweringContext;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;

/** An elementwise function of one tensor; slicewise, no communication. */
public final class UnaryOp extends Op {
  /** The functions, each with its derivative written as mesh ops. */
  public enum Kind {
    NEG, EXP, LOG, SQRT, RSQRT, TANH, SIGMOID, RELU, ABS, SIN, COS, SIGN, SQUARE, SOFTPLUS, ERF,
    RECIPROCAL, LOG1P, FLOOR, LOGICAL_NOT, IDENTITY
  }

  private final Kind kind;

  UnaryOp(MeshGraph g, Kind kind, MeshTensor x) {
    super(g, kind.name().toLowerCase(), List.of(x));
    this.kind = kind;
    if (kind == Kind.LOGICAL_NOT && x.dtype() != DType.BOOL) {
      throw new IllegalArgumentException("logical_not needs a bool tensor, got " + x);
    }
    addOutput(x.shape(), x.dtype());
  }

  public Kind kind() {
    return kind;
  }

  @Override
  public boolean hasGradient() {
    return super.hasGradient() && kind != Kind.SIGN && kind != Kind.FLOOR;
  }

  @Override
  public void lower(LoweringContext l) {
    l.set(output(), l.slicewise((tf, p, s) -> apply(tf, s.get(0)), inputs().get(0)));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private Operand<?> apply(Ops tf, Operand x) {
    return switch (kind) {
      case NEG -> tf.math.neg(x);
      case EXP -> tf.math.exp(x);
      case LOG -> tf.math.log(x);
      case SQRT -> tf.math.sqrt(x);
      case RSQRT -> tf.math.rsqrt(x);
      case TANH -> tf.math.tanh(x);
      case SIGMOID -> tf.math.sigmoid(x);
      case RELU -> tf.nn.relu(x);
      case ABS -> tf.math.abs(x);
      case SIN -> tf.math.sin(x);
      case COS -> tf.math.cos(x);
      case SIGN -> tf.math.sign(x);
      case SQUARE -> tf.math.square(x);
      case SOFTPLUS -> tf.math.softplus(x);
      case ERF -> tf.math.erf(x);
      case RECIPROCAL -> tf.math.reciprocal(x);
      case LOG1P -> tf.math.log1p(x);
      case FLOOR -> tf.math.floor(x);
      case LOGICAL_NOT -> tf.math.logicalNot(x);
      case IDENTITY -> tf.identity(x);
    };
  }

  @Override
  public List<MeshTensor> gradient(List<MeshTensor> dys) {
    MeshOps m = new MeshOps(graph());
    MeshTensor dy = dys.get(0);
    MeshTensor x = inputs().get(0);
    MeshTensor y = output();
    MeshTensor dx = switch (kind) {
      case NEG -> m.neg(dy);
      case EXP -> m.mul(dy, y);
      case LOG -> m.div(dy, x);
      case SQRT -> m.div(m.mul(dy, 0.5), y);
      case RSQRT -> m.mul(m.mul(dy, -0.5), m.mul(y, m.square(y)));
      case TANH -> m.tanhGrad(y, dy);
      case SIGMOID -> m.sigmoidGrad(y, dy);
      case RELU -> m.reluGrad(dy, x);
      case ABS -> m.mul(dy, m.sign(x));
      case SIN -> m.mul(dy, m.cos(x));
      case COS -> m.neg(m.mul(dy, m.sin(x)));
      case SQUARE -> m.mul(dy, m.mul(x, 2.0));
      case SOFTPLUS -> m.mul(dy, m.sigmoid(x));
      case ERF -> m.mul(dy, m.mul(m.exp(m.neg(m.square(x))), 2.0 / Math.sqrt(Math.PI)));
      case RECIPROCAL -> m.neg(m.mul(dy, m.square(y)));
      case LOG1P -> m.div(dy, m.add(x, 1.0));
      case IDENTITY -> dy;
      case SIGN, FLOOR, LOGICAL_NOT -> null;
    };
    return Arrays.asList(dx);
  }

  @Override
  public <R> R accept(OpVisitor<R> v) {
    return v.visit(this);
  }
}
