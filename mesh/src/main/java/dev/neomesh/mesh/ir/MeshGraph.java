package dev.neomesh.mesh.ir;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A mesh program: its ops in creation order (which is a topological order) and its variables.
 * Names are unique and deterministic ({@code a}, {@code a_1}, ...), because layout-invariant
 * randomness keys every random value on its op's name.
 */
public final class MeshGraph {
  private final List<Op> ops = new ArrayList<>();
  private final List<VariableOp> variables = new ArrayList<>();
  private final Map<String, Integer> nameCounts = new HashMap<>();
  private final long seed;
  private MeshTensor randomStep;
  private int tensors;
  private final List<dev.neomesh.mesh.LayoutRules.Follower> followers = new ArrayList<>();

  public MeshGraph(long seed) {
    this.seed = seed;
  }

  public MeshGraph() {
    this(0);
  }

  /** The seed of every random op in this program. */
  public long seed() {
    return seed;
  }

  /**
   * An int64 scalar fed each run (by {@code MeshRuntime.Step.randomStep}, 0 when not set) that
   * per-step randomness such as dropout mixes into its key, so masks differ from step to step
   * yet are reproducible: a resumed run at step k draws what an uninterrupted one drew.
   */
  public MeshTensor randomStep() {
    if (randomStep == null) {
      randomStep = new ImportOp(this, "random_step", dev.neomesh.mesh.Shape.SCALAR, DType.INT64).output();
    }
    return randomStep;
  }

  /** The random-step tensor if some op uses it. */
  public java.util.Optional<MeshTensor> randomStepIfUsed() {
    return java.util.Optional.ofNullable(randomStep);
  }

  /**
   * Declares that {@code follower} takes {@code leader}'s mesh axis when no layout rule names it and
   * the axis divides it ({@link dev.neomesh.mesh.LayoutRules#withFollowers}); once per pair.
   */
  public void followLayout(dev.neomesh.mesh.Dim follower, String leader) {
    if (followers.stream().noneMatch(f -> f.dim().equals(follower.name()) && f.leader().equals(leader))) {
      followers.add(new dev.neomesh.mesh.LayoutRules.Follower(follower.name(), follower.size(), leader));
    }
  }

  /** The declared followers, in declaration order. */
  public List<dev.neomesh.mesh.LayoutRules.Follower> layoutFollowers() {
    return Collections.unmodifiableList(followers);
  }

  /** How many tensors the graph has: every {@link MeshTensor#id} is below this. */
  public int tensorCount() {
    return tensors;
  }

  int nextTensorId() {
    return tensors++;
  }

  String register(Op op, String baseName) {
    String name = baseName;
    int n = nameCounts.merge(baseName, 1, Integer::sum);
    if (n > 1) {
      name = baseName + "_" + (n - 1);
      while (nameCounts.containsKey(name)) {
        name = baseName + "_" + (n++);
      }
      nameCounts.put(name, 1);
    }
    if (recomputing) {
      recomputedCopies.set(ops.size());
    }
    ops.add(op);
    if (op instanceof VariableOp v) {
      variables.add(v);
    }
    return name;
  }

  /**
   * A part of the forward pass whose activations the backward pass recomputes instead of keeping
   * ({@link MeshOps#recompute}): ops {@code [first, last]} of {@link #ops()}, built by {@code body}
   * from {@code inputs}; nothing outside reads its tensors but {@code outputs}.
   */
  public record Recompute(List<MeshTensor> inputs, List<MeshTensor> outputs,
      java.util.function.Function<List<MeshTensor>, List<MeshTensor>> body, int first, int last) {}

  private final Map<Integer, Recompute> recomputeByLast = new HashMap<>();
  private boolean recomputing;
  /** Indexes into {@link #ops()} of the ops built by a segment's body again for the backward pass. */
  private final java.util.BitSet recomputedCopies = new java.util.BitSet();

  /** The recomputed segment whose last op is {@code ops().get(index)}, or null. */
  Recompute recomputeEndingAt(int index) {
    return recomputeByLast.get(index);
  }

  void addRecompute(Recompute r) {
    recomputeByLast.put(r.last(), r);
  }

  /** Whether a segment's body is being built again for the backward pass (segments do not nest). */
  boolean recomputing() {
    return recomputing;
  }

  /**
   * Starts ({@code triggers} not null) or ends (null) building a segment's body again. While it is
   * built, every op reads the variables through an {@link AfterOp} on {@code triggers}, one per
   * variable ({@link #gateVariables}): the copy's weight reads, casts and (ZeRO stage 3) gathers
   * depend on nothing else, so TensorFlow would run every copy's at the step's start and hold their
   * results through the whole forward and backward.
   */
  void setRecomputing(List<MeshTensor> triggers) {
    recomputing = triggers != null;
    recomputeTriggers = triggers;
    gatedVariables.clear();
  }

  private List<MeshTensor> recomputeTriggers;
  private final Map<MeshTensor, MeshTensor> gatedVariables = new java.util.IdentityHashMap<>();

  /** {@code inputs}, each variable read through its gate while a segment's body is built again. */
  List<MeshTensor> gateVariables(List<MeshTensor> inputs) {
    if (!recomputing || inputs.stream().noneMatch(t -> t.op() instanceof VariableOp)) {
      return inputs;
    }
    List<MeshTensor> out = new ArrayList<>(inputs.size());
    for (MeshTensor t : inputs) {
      MeshTensor gated = t;
      if (t.op() instanceof VariableOp) {
        gated = gatedVariables.get(t);
        if (gated == null) {
          gated = new AfterOp(this, t, recomputeTriggers).output();
          gatedVariables.put(t, gated);
        }
      }
      out.add(gated);
    }
    return out;
  }

  /**
   * Whether {@code ops().get(index)} belongs to a segment's body built again for the backward pass
   * ({@link MeshOps#recompute}): a forward op run late, whose outputs are activations.
   */
  public boolean isRecomputedCopy(int index) {
    return recomputedCopies.get(index);
  }

  public List<Op> ops() {
    return Collections.unmodifiableList(ops);
  }

  public List<VariableOp> variables() {
    return Collections.unmodifiableList(variables);
  }

  public List<VariableOp> trainableVariables() {
    return variables.stream().filter(VariableOp::trainable).toList();
  }
}
