package org.tensorflow.op;

import java.util.Set;
import java.util.function.Predicate;
import org.tensorflow.DeviceSpec;
import org.tensorflow.ExecutionEnvironment;
import org.tensorflow.Operation;
import org.tensorflow.OperationBuilder;

/**
 * Ops whose every new operation asks TensorFlow to compile it with XLA, in one named cluster scope:
 * the graph form of Python's {@code tf.xla.experimental.jit_scope}. TensorFlow's
 * {@code MarkForCompilationPass} clusters the ops carrying {@code _XlaCompile = true} that XLA can
 * compile, never across {@code _XlaScope}s and never across devices, and leaves the others to
 * TensorFlow's own kernels. On CPUs this explicit request is the only way XLA compiles anything
 * without TensorFlow's global auto-jit flags.
 *
 * <p>In this package because TensorFlow Java 1.1.0 keeps {@code Ops(Scope)} package-private, and
 * its {@code Scope} interface is the one place every generated op passes through
 * ({@code scope.opBuilder(type, name)}).
 */
public final class JitScopes {
  private JitScopes() {}

  /** {@code ops} with every op whose type {@code compiles} marked for XLA in cluster scope {@code name}. */
  public static Ops compiled(Ops ops, String name, Predicate<String> compiles) {
    return new Ops(new JitScope(ops.scope(), name, compiles));
  }

  /** Op types a jit scope leaves to TensorFlow: variables and their state, feeds and host I/O. */
  public static final Set<String> NEVER = Set.of("VarHandleOp", "Placeholder", "NoOp", "Identity");

  private record JitScope(Scope inner, String name, Predicate<String> compiles) implements Scope {
    /** {@code scope} with this scope's XLA marking: every derived scope keeps it. */
    private Scope wrap(Scope scope) {
      return new JitScope(scope, name, compiles);
    }

    @Override
    public ExecutionEnvironment env() {
      return inner.env();
    }

    @Override
    public OperationBuilder opBuilder(String type, String opName) {
      OperationBuilder b = env().opBuilder(type, makeOpName(opName), this);
      if (compiles.test(type) && !NEVER.contains(type)) {
        b.setAttr("_XlaCompile", true);
        b.setAttr("_XlaScope", name);
      }
      return b;
    }

    @Override
    public Scope withSubScope(String childScopeName) {
      return wrap(inner.withSubScope(childScopeName));
    }

    @Override
    public Scope withName(String opName) {
      return wrap(inner.withName(opName));
    }

    @Override
    public Scope withNameAsSubScope(String defaultName) {
      return wrap(inner.withNameAsSubScope(defaultName));
    }

    @Override
    public Scope withDevice(DeviceSpec deviceSpec) {
      return wrap(inner.withDevice(deviceSpec));
    }

    @Override
    public Scope withInitScope() {
      return wrap(inner.withInitScope());
    }

    @Override
    public String makeOpName(String opName) {
      return inner.makeOpName(opName);
    }

    @Override
    public String makeUnique(String id) {
      return inner.makeUnique(id);
    }

    @Override
    public void refreshNames() {
      inner.refreshNames();
    }

    @Override
    public Scope withControlDependencyOps(Iterable<Operation> controls) {
      return wrap(inner.withControlDependencyOps(controls));
    }

    @Override
    public OperationBuilder apply(OperationBuilder builder) {
      return inner.apply(builder);
    }

    @Override
    public String getDeviceString() {
      return inner.getDeviceString();
    }

    @Override
    public boolean isInit() {
      return inner.isInit();
    }
  }
}
