package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.TensorLayout;
import dev.neomesh.mesh.comm.Collective;
import dev.neomesh.mesh.comm.Comm;
import dev.neomesh.mesh.comm.CommPlan;
import dev.neomesh.mesh.comm.PlanContext;
import dev.neomesh.mesh.ir.BinaryOp;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.EinsumOp;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.OneHotOp;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.ReduceOp;
import dev.neomesh.mesh.ir.ReshapeOp;
import dev.neomesh.mesh.ir.ShiftOp;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.LoweringOptions;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.tensorflow.GraphOperation;

/**
 * {@link CommunicationTest}'s check, op kind by op kind: for small float32 programs that together
 * use every {@link Op} class (forward, {@link Gradients#of} backward, and the optimizer's updates),
 * the communication the cost model predicts equals what the lowering records, exactly, on every
 * candidate layout of the planner on x:4, x:2,y:2 and x:2,y:4, with fused kernels and without.
 * So that it cannot pass vacuously, it also checks that the programs use every op class, that the
 * checked layouts take every op case each program is there for (a dim split and unsplit, an input
 * pending or whole, a collective planned or not; see {@link #cases}), and that each program makes
 * the collectives its ops are there for.
 */
class OpCommunicationTest {
  static final List<String> MESHES = List.of("x:4", "x:2,y:2", "x:2,y:4");
  static final DType F32 = DType.FLOAT32;

  /**
   * One program under test: its graph and fetched loss; whether the graph holds its optimizer's
   * slots; the op cases it is there for (labels of {@link #cases}), which some checked layout must
   * take; the collectives some checked layout must make.
   */
  record Program(String name, MeshGraph graph, MeshTensor loss, boolean holdsSlots, List<String> cases,
                 Set<Collective> kinds) {}

  /** What checking one program saw: the layouts compared, the counter keys recorded, and every mismatch. */
  record Seen(List<LayoutRules> layouts, Set<String> keys, Set<String> cases, List<String> mismatches) {
    Seen() {
      this(new ArrayList<>(), new TreeSet<>(), new TreeSet<>(), new ArrayList<>());
    }
  }

  // ---- the programs -------------------------------------------------------------------------

  /**
   * Dense layers. EinsumOp: two matmuls over the same contracted dim i (each output a pending sum
   * over i's axis) and one over h. BinaryOp: ADD and SUB of those two pending sums (the lazy case:
   * they stay pending), GREATER of a pending matmul output (resolves it), MUL, LESS, GREATER_EQUAL
   * (dropout), EQUAL (the min's gradient), DIV and the RELU/TANH/SIGMOID_GRAD kernels in the
   * backward. ReduceOp: SUM of the pending SUB (stays pending over i's and b's axes), MAX over o (in
   * logSumExp, o split or not), MIN over h (split or not). UnaryOp: relu, tanh, sigmoid, exp, log,
   * square, neg. CastOp: float32 to float64 and back, bool to float32. WhereOp (a leaky relu),
   * StopGradientOp (logSumExp's max), SoftmaxOp along o (split and unsplit), RangeOp (a row mask),
   * RandomOp (initial weights, and dropout's per-step mask), ConstantOp, ImportOp, VariableOp, and
   * AdamUpdateOp (the fused Adam, slots in the graph) whose gradients are often pending sums it resolves.
   * The output matmul is recomputed in the backward ({@code MeshOps#recompute}): its input read again
   * through an AfterOp gated on the output's gradient (a pending sum where h is split, awaited as it is).
   */
  static Program dense() {
    MeshGraph g = new MeshGraph(11);
    MeshOps m = new MeshOps(g);
    Dim b = new Dim("b", 8);
    Dim i = new Dim("i", 8);
    Dim h = new Dim("h", 8);
    Dim o = new Dim("o", 4);
    MeshTensor x1 = m.importTensor("x1", Shape.of(b, i), F32);
    MeshTensor x2 = m.importTensor("x2", Shape.of(b, i), F32);
    MeshTensor w1 = m.variable("w1", m.randomNormal(Shape.of(i, h), F32, "w1", 0, 0.3));
    MeshTensor w2 = m.variable("w2", m.randomUniform(Shape.of(i, h), F32, "w2", -0.3, 0.3));
    MeshTensor wo = m.variable("wo", m.truncatedNormal(Shape.of(h, o), F32, "wo", 0, 0.3));
    MeshTensor p1 = m.matmul(x1, w1, Shape.of(b, h));
    MeshTensor p2 = m.matmul(x2, w2, Shape.of(b, h));
    MeshTensor sum = m.add(p1, p2); // lazy
    MeshTensor diff = m.sub(p1, p2); // lazy
    MeshTensor colSum = m.reduceSum(diff, Shape.of(h)); // a sum of a pending sum
    MeshTensor a = m.relu(sum);
    MeshTensor c = m.tanh(m.cast(m.cast(diff, DType.FLOAT64), F32));
    MeshTensor hid = m.dropout(m.mul(a, m.sigmoid(c)), 0.25, "drop");
    MeshTensor rowMask = m.cast(m.less(m.range(b, DType.INT32), 6), F32);
    MeshTensor z = m.recompute(List.of(hid), in -> List.of(m.matmul(m.mul(in.get(0), rowMask), wo, Shape.of(b, o))))
        .get(0);
    MeshTensor leaky = m.where(m.greater(z, 0.0), z, m.mul(z, 0.1));
    MeshTensor probs = m.softmax(leaky, "o");
    MeshTensor lse = m.logSumExp(leaky, "o");
    MeshTensor floor = m.reduceMin(a, MeshOps.without(a, "h"));
    MeshTensor loss = m.add(m.add(sumSquares(m, probs), m.reduceSum(lse, Shape.SCALAR)),
        m.add(sumSquares(m, colSum), m.reduceSum(floor, Shape.SCALAR)));
    fusedAdam(m, loss, List.of(w1, w2, wo));
    return new Program("dense", g, loss, true, List.of(
        "EinsumOp: leaves a pending sum", "EinsumOp: no communication",
        "BinaryOp ADD: leaves a pending sum", "BinaryOp SUB: leaves a pending sum",
        "BinaryOp GREATER: resolves an input", "BinaryOp MUL: no communication",
        "ReduceOp SUM of a pending sum: leaves a pending sum", "ReduceOp MAX: allreduce",
        "ReduceOp MAX: no communication", "ReduceOp MIN: allreduce", "ReduceOp MIN: no communication",
        "UnaryOp: resolves an input", "UnaryOp: no communication", "CastOp: resolves an input",
        "CastOp: no communication", "WhereOp: no communication", "StopGradientOp: no communication",
        "SoftmaxOp: allreduce", "SoftmaxOp: no communication", "RangeOp: no communication",
        "RandomOp: no communication", "ConstantOp: no communication", "ImportOp: no communication",
        "VariableOp: no communication", "AdamUpdateOp: resolves an input", "AdamUpdateOp: no communication",
        "AfterOp: no communication"), EnumSet.of(Collective.ALLREDUCE));
  }

  /**
   * An embedding with tied output weights. OneHotOp of imported int32 ids; EinsumOp as an embedding
   * lookup (a Gather when its depth dim v is unsplit, a one-hot matmul with a pending sum over v's
   * axis when split), the tied logits (summed over e), and in the backward the table gradients of
   * both (summed over n: two pending sums over n's axis whose ADD stays pending). TopKOp along v
   * (split: an allconcat first; its k dim split in the outputs: each device keeps its part), whose
   * gradient is a one-hot of its indices contracted over k. AssignOp: the pending table gradient
   * assigned to an accumulator first (the assign resolves it), then an SGD step of the table.
   */
  static Program embedding() {
    MeshGraph g = new MeshGraph(12);
    MeshOps m = new MeshOps(g);
    Dim n = new Dim("n", 8);
    Dim v = new Dim("v", 8);
    Dim e = new Dim("e", 4);
    Dim k = new Dim("k", 4);
    MeshTensor ids = m.importTensor("ids", Shape.of(n), DType.INT32);
    MeshTensor table = m.variable("table", m.randomUniform(Shape.of(v, e), F32, "table", -0.5, 0.5));
    MeshTensor acc = m.variable("table/grad_acc", m.zeros(Shape.of(v, e), F32), false);
    MeshTensor emb = m.gather(table, ids, "v");
    MeshTensor logits = m.matmul(emb, table, Shape.of(n, v));
    List<MeshTensor> top = m.topK(logits, "v", k);
    MeshTensor loss = m.add(sumSquares(m, top.get(0)), sumSquares(m, emb));
    MeshTensor grad = Gradients.of(loss, List.of(table)).get(0);
    m.assign(acc, grad);
    m.assign(table, m.sub(table, m.mul(grad, 0.1)));
    return new Program("embedding", g, loss, true, List.of(
        "OneHotOp: no communication", "EinsumOp lookup, depth unsplit: no communication",
        "EinsumOp lookup, depth split: leaves a pending sum",
        "EinsumOp table gradient, depth unsplit: leaves a pending sum",
        "EinsumOp table gradient, depth split: leaves a pending sum", "BinaryOp ADD: leaves a pending sum",
        "TopKOp: allconcat", "TopKOp: allsplit", "TopKOp: no communication", "AssignOp: resolves an input"),
        EnumSet.of(Collective.ALLREDUCE, Collective.ALLCONCAT));
  }

  /**
   * Relayouts. ReshapeOp from [a, b] to [b, c] (the same flattening: old a's positions are new b's,
   * old b's new c's): a split on a that moves to c, or one on b that moves to the front, is an
   * alltoall; a split on a or b with none on that axis in the new shape an allconcat; a split only
   * on c an allsplit (local). Then a transpose to [c, b] (local), and a merge into one dim f: split
   * on c and on f it needs nothing, split on b an allconcat (and an allsplit when f is split). A
   * matmul over b renamed from c to cs: with b and cs on one axis, the pending sum and the new split
   * are one reduce-scatter. The backward reshapes back the same ways. AssignOp for SGD.
   */
  static Program relayout() {
    MeshGraph g = new MeshGraph(13);
    MeshOps m = new MeshOps(g);
    Dim a = new Dim("a", 8);
    Dim b = new Dim("b", 8);
    Dim c = new Dim("c", 8);
    Dim f = new Dim("f", 64);
    MeshTensor x = m.importTensor("x", Shape.of(a, b), F32);
    MeshTensor w = m.variable("w", m.randomNormal(Shape.of(a, b), F32, "w", 0, 1));
    MeshTensor y = m.mul(x, w);
    MeshTensor r = m.reshape(y, Shape.of(b, c));
    MeshTensor t = m.transpose(m.exp(r), Shape.of(c, b));
    MeshTensor flat = m.reshape(m.sin(t), Shape.of(f));
    // a matmul's pending sum over b's axis renamed onto a dim split on that axis: a reduce-scatter
    MeshTensor w2 = m.variable("w2", m.randomNormal(Shape.of(b, c), F32, "w2", 0, 1));
    MeshTensor scattered = m.reshape(m.matmul(x, w2, Shape.of(a, c)), Shape.of(a, new Dim("cs", 8)));
    MeshTensor loss = m.add(m.add(sumSquares(m, flat), sumSquares(m, r)), sumSquares(m, scattered));
    sgd(m, loss, List.of(w, w2), 0.1);
    return new Program("relayout", g, loss, false, List.of(
        "ReshapeOp: alltoall", "ReshapeOp: allconcat", "ReshapeOp: allsplit", "ReshapeOp: no communication",
        "ReshapeOp: reducescatter", "ReshapeOp transpose: no communication", "AssignOp: no communication"),
        EnumSet.of(Collective.ALLCONCAT, Collective.ALLTOALL, Collective.REDUCESCATTER));
  }

  /**
   * Along dims: SliceOp, PadOp and ConcatOp along t (which the planner never splits, checked
   * below), the slice resolving a matmul's pending sum over u's axis; ShiftOp along s, split or
   * not, by offsets that are multiples of the slice length on one axis size and not on the other
   * (1, 2, -3, 4), with and without wrap, and by a whole turn (8: zeros without wrap, identity with),
   * where no data moves even on a split dim. Their gradients are the reverse slices, pads and
   * shifts. AssignOp for SGD. CumsumOp along t; StateWriteOp: a block of y's rows written at a fed
   * offset into a state along t (whose block dim the planner keeps unsplit), and a whole write.
   */
  static Program alongDims() {
    MeshGraph g = new MeshGraph(14);
    MeshOps m = new MeshOps(g);
    Dim t = new Dim("t", 8);
    Dim u = new Dim("u", 4);
    Dim s = new Dim("s", 8);
    MeshTensor x = m.importTensor("x", Shape.of(t, u), F32);
    MeshTensor w = m.variable("w", m.randomNormal(Shape.of(u, s), F32, "w", 0, 1));
    MeshTensor y = m.matmul(x, w, Shape.of(t, s));
    MeshTensor sliced = m.slice(y, "t", 2, 4);
    MeshTensor padded = m.pad(m.square(sliced), "t", 1, 3);
    MeshTensor joined = m.concat(List.of(padded, y), "t");
    MeshTensor loss = m.scalar(0, F32);
    int[] offsets = {1, 2, -3, 4, 8, -8};
    boolean[] wraps = {false, true, true, false, false, true};
    for (int k = 0; k < offsets.length; k++) {
      loss = m.add(loss, sumSquares(m, m.mul(m.shift(joined, "s", offsets[k], wraps[k]), k + 1.0)));
    }
    loss = m.add(loss, sumSquares(m, m.cumsumUnsplit(y, "t", true)));
    MeshTensor state = m.variable("state", m.zeros(Shape.of(t, s), F32), false);
    MeshTensor at = m.importTensor("at", Shape.SCALAR, DType.INT32);
    MeshTensor written = m.writeStateBlock(state, m.rename(m.slice(y, "t", 0, 2), "t", "rows"), "t", at);
    MeshTensor total = m.variable("total", m.zeros(Shape.of(s), F32), false);
    MeshTensor summed = m.writeState(total, m.add(total, m.reduceSum(written, MeshOps.without(written, "t"))));
    loss = m.add(loss, m.stopGradient(m.reduceSum(summed, Shape.SCALAR)));
    sgd(m, loss, List.of(w), 0.1);
    return new Program("along dims", g, loss, false, List.of(
        "SliceOp: resolves an input", "PadOp: no communication", "ConcatOp: no communication",
        "ShiftOp along an unsplit dim, no wrap: no communication",
        "ShiftOp along an unsplit dim, wrap: no communication",
        "ShiftOp by whole slices, no wrap: shift", "ShiftOp by whole slices, wrap: shift",
        "ShiftOp by part of a slice, no wrap: shift", "ShiftOp by part of a slice, wrap: shift",
        "ShiftOp by part of a slice, wrap: shift (no data moves)",
        "ShiftOp by whole slices, no wrap: shift (no data moves)",
        "ShiftOp by whole slices, wrap: shift (no data moves)"),
        EnumSet.of(Collective.ALLREDUCE, Collective.SHIFT));
  }

  static List<Program> programs() {
    return List.of(dense(), embedding(), relayout(), alongDims());
  }

  // ---- helpers that build ---------------------------------------------------------------------

  static MeshTensor sumSquares(MeshOps m, MeshTensor t) {
    return m.reduceSum(m.square(t), Shape.SCALAR);
  }

  /** The fused Adam step of each weight, its slots variables of the graph, the learning rate fed. */
  static void fusedAdam(MeshOps m, MeshTensor loss, List<MeshTensor> weights) {
    List<MeshTensor> grads = Gradients.of(loss, weights);
    MeshTensor lr = m.importTensor("lr", Shape.SCALAR, F32);
    MeshTensor noCorrection = m.scalar(0, F32);
    for (int i = 0; i < weights.size(); i++) {
      MeshTensor w = weights.get(i);
      String name = m.variableOp(w).name();
      MeshTensor mSlot = m.variable(name + "/adam_m", m.zeros(w.shape(), F32), false);
      MeshTensor vSlot = m.variable(name + "/adam_v", m.zeros(w.shape(), F32), false);
      m.applyAdam(w, mSlot, vSlot, grads.get(i), lr, noCorrection, noCorrection, 0.9, 0.999, 1e-8,
          i == 0 ? 0.01 : 0);
    }
  }

  /** {@code w -= lr * grad} with an {@code assign} per weight. */
  static void sgd(MeshOps m, MeshTensor loss, List<MeshTensor> weights, double lr) {
    List<MeshTensor> grads = Gradients.of(loss, weights);
    for (int i = 0; i < weights.size(); i++) {
      m.assign(weights.get(i), m.sub(weights.get(i), m.mul(grads.get(i), lr)));
    }
  }

  // ---- helpers that check ---------------------------------------------------------------------

  static CostModel model(Program p) {
    CostModel.Options options = CostModel.Options.adam(MachineConstants.DEFAULTS).withFetches(List.of(p.loss()));
    return new CostModel(p.graph(), p.holdsSlots() ? options.withOptimizerSlots(0) : options);
  }

  /**
   * Lowers {@code p} on every candidate layout of {@code meshText} and compares the counters the
   * lowering records with the cost model's; adds what it saw to {@code seen}.
   */
  static void check(Program p, String meshText, LoweringOptions lowering, Seen seen) {
    MeshShape mesh = MeshShape.parse(meshText);
    CostModel model = model(p);
    List<LayoutRules> all = Planner.candidates(model, mesh);
    assertTrue(all.size() > 1, p.name() + ": candidates on " + mesh);
    for (LayoutRules rules : all) {
      assertTrue(LayoutValidator.validate(p.graph(), mesh, rules).isEmpty(), rules + " is a candidate but invalid");
      Map<String, Counters.Entry> predicted = model.estimate(mesh, rules).communication();
      try (MeshRuntime rt = MeshRuntime.onVirtualCpus(p.graph(), mesh, rules, lowering)) {
        rt.exported(p.loss());
        Map<String, Counters.Entry> recorded = rt.counters().entries();
        if (!recorded.equals(predicted)) {
          seen.mismatches().add(p.name() + " on mesh " + mesh + ", layout \"" + rules + "\", " + lowering
              + ": recorded " + recorded + ", predicted " + predicted);
        }
        seen.keys().addAll(recorded.keySet());
      }
      seen.layouts().add(rules);
      seen.cases().addAll(cases(p.graph(), mesh, rules));
    }
  }

  /** Checks {@code p} on every mesh; asserts no mismatch, that its cases were taken and its collectives made. */
  static Seen checkEveryMesh(Program p, LoweringOptions lowering) {
    Seen seen = new Seen();
    List<String> perMesh = new ArrayList<>();
    for (String mesh : MESHES) {
      int before = seen.layouts().size();
      check(p, mesh, lowering, seen);
      perMesh.add(mesh + ": " + (seen.layouts().size() - before));
    }
    System.out.println(p.name() + " layouts, " + String.join(", ", perMesh) + "; counters seen " + seen.keys());
    assertTrue(seen.mismatches().isEmpty(), seen.mismatches().size() + " mismatch(es), the first:\n"
        + String.join("\n", seen.mismatches().subList(0, Math.min(10, seen.mismatches().size()))));
    List<String> missing = p.cases().stream().filter(x -> !seen.cases().contains(x)).toList();
    assertTrue(missing.isEmpty(), p.name() + ": no checked layout takes " + missing + " (cases taken: "
        + seen.cases() + ")");
    for (Collective kind : p.kinds()) {
      assertTrue(seen.keys().stream().anyMatch(key -> key.startsWith(kind.key() + "[")), p.name()
          + " never makes a " + kind.key() + " (keys seen: " + seen.keys() + ")");
    }
    return seen;
  }

  /**
   * The cases the ops' plans take on one layout, as labels such as {@code "ShiftOp by part of a
   * slice: shift"}: each op's plan in the lowering's order, with the pending sums the plans so far
   * leave (as the lowering and the cost model walk them), labelled by op class, the op's case and
   * each planned step. Only to check what the compared layouts exercise.
   */
  static Set<String> cases(MeshGraph graph, MeshShape mesh, LayoutRules rules) {
    Map<MeshTensor, int[]> pending = new IdentityHashMap<>();
    PlanContext c = new PlanContext() {
      @Override
      public MeshShape mesh() {
        return mesh;
      }

      @Override
      public TensorLayout layout(MeshTensor t) {
        return rules.layoutOf(t.name(), t.shape(), mesh);
      }

      @Override
      public TensorLayout layout(java.util.function.Supplier<String> what, Shape shape) {
        return rules.layoutOf(what.get(), shape, mesh);
      }

      @Override
      public int[] pendingSum(MeshTensor t) {
        return pending.getOrDefault(t, new int[0]);
      }
    };
    Set<String> out = new TreeSet<>();
    for (Op op : graph.ops()) {
      CommPlan plan = op.plan(c);
      String base = op.getClass().getSimpleName() + caseOf(op, c);
      if (plan.steps().isEmpty() && plan.resolved().isEmpty()) {
        out.add(base + ": no communication");
      }
      for (Comm step : plan.steps()) {
        out.add(base + ": " + (step instanceof Comm.AllSplit ? "allsplit"
            : step.kind().key() + (step.communicates() ? "" : " (no data moves)")));
      }
      if (!plan.resolved().isEmpty()) {
        out.add(base + ": resolves an input");
      }
      if (plan.pendingSum().length > 0) {
        out.add(base + ": leaves a pending sum");
      }
      plan.resolved().forEach(r -> pending.remove(r.tensor()));
      if (plan.pendingSum().length > 0) {
        pending.put(op.output(), plan.pendingSum());
      }
    }
    return out;
  }

  /** What distinguishes an op's cases beyond its plan's steps ("" for most ops). */
  static String caseOf(Op op, PlanContext c) {
    if (op instanceof BinaryOp b) {
      return " " + b.kind();
    }
    if (op instanceof ReduceOp r) {
      return " " + r.kind() + (c.pendingSum(r.inputs().get(0)).length > 0 ? " of a pending sum" : "");
    }
    if (op instanceof ReshapeOp r) {
      Set<Dim> in = new HashSet<>(r.inputs().get(0).shape().dims());
      return in.equals(new HashSet<>(r.output().shape().dims())) ? " transpose" : "";
    }
    if (op instanceof ShiftOp s) {
      MeshTensor x = s.inputs().get(0);
      int i = x.shape().indexOf(s.dim());
      String wrap = s.wrap() ? ", wrap" : ", no wrap";
      if (c.layout(x).meshAxisOf(i) < 0) {
        return " along an unsplit dim" + wrap;
      }
      int slice = c.layout(x).sliceShape().get(i).size();
      return (s.offset() % slice == 0 ? " by whole slices" : " by part of a slice") + wrap;
    }
    if (op instanceof EinsumOp e) {
      for (MeshTensor hot : e.inputs()) {
        if (hot.op() instanceof OneHotOp) {
          Dim depth = hot.shape().get(hot.shape().rank() - 1);
          boolean split = c.layout(hot).meshAxisOf(hot.shape().rank() - 1) >= 0;
          Shape out = e.output().shape();
          Shape ids = hot.op().inputs().get(0).shape();
          String role = !out.contains(depth.name()) ? " lookup"
              : ids.dims().stream().noneMatch(d -> out.contains(d.name())) ? " table gradient" : " one-hot contraction";
          return role + ", depth " + (split ? "split" : "unsplit");
        }
      }
    }
    return "";
  }

  /** The TensorFlow op types of a lowered program. */
  static Set<String> opTypes(MeshRuntime rt) {
    Set<String> types = new HashSet<>();
    for (Iterator<GraphOperation> it = rt.graph().operations(); it.hasNext(); ) {
      types.add(it.next().type());
    }
    return types;
  }

  // ---- the tests ----------------------------------------------------------------------------

  @Test
  void programsUseEveryOpClass() {
    Set<Class<?>> used = programs().stream().flatMap(p -> p.graph().ops().stream()).map(Object::getClass)
        .collect(Collectors.toSet());
    Set<Class<?>> all = new HashSet<>(Arrays.asList(Op.class.getPermittedSubclasses()));
    all.removeAll(used);
    assertTrue(all.isEmpty(), "op classes no program uses: " + all);
  }

  @Test
  void everyOpEveryCandidate() {
    long t0 = System.nanoTime();
    Set<String> keys = new TreeSet<>();
    int n = 0;
    for (Program p : programs()) {
      Seen seen = checkEveryMesh(p, LoweringOptions.DEFAULT);
      keys.addAll(seen.keys());
      n += seen.layouts().size();
    }
    for (Collective kind : Collective.values()) {
      assertTrue(keys.stream().anyMatch(k -> k.startsWith(kind.key() + "[")), "no layout makes a " + kind.key());
    }
    System.out.printf("op communication: %d layouts lowered and compared in %.1f s%n", n,
        (System.nanoTime() - t0) / 1e9);
  }

  /**
   * Without fused kernels (softmax composite, one-hot matmuls instead of Gather) the same counters,
   * on the programs whose lowering {@link LoweringOptions#fusedKernels} changes (the other two lower
   * the same TensorFlow ops either way; leaving them out keeps the class near half a minute).
   */
  @Test
  void unfusedLoweringSameCounters() {
    long t0 = System.nanoTime();
    int n = 0;
    for (Program p : List.of(dense(), embedding())) {
      n += checkEveryMesh(p, LoweringOptions.UNFUSED).layouts().size();
    }
    System.out.printf("op communication, unfused: %d layouts lowered and compared in %.1f s%n", n,
        (System.nanoTime() - t0) / 1e9);
  }

  /**
   * The embedding lookup with its depth dim unsplit is the Gather path and its table gradient an
   * UnsortedSegmentSum, with no one-hot built (and the unfused lowering is neither), so the fused
   * case the counters are compared on is really taken.
   */
  @Test
  void lookupWithUnsplitDepthIsAGather() {
    Program p = embedding();
    MeshShape mesh = MeshShape.parse("x:4");
    LayoutRules rules = LayoutRules.parse("n:x");
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(p.graph(), mesh, rules)) {
      assertTrue(opTypes(rt).contains("GatherV2"), "no Gather in " + opTypes(rt));
      assertTrue(opTypes(rt).contains("UnsortedSegmentSum"), "no segment sum in " + opTypes(rt));
    }
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(p.graph(), mesh, rules, LoweringOptions.UNFUSED)) {
      assertFalse(opTypes(rt).contains("GatherV2"));
      assertFalse(opTypes(rt).contains("UnsortedSegmentSum"));
    }
  }

  /** Slice, pad and concat work along t: no candidate splits it, and a layout that does is invalid. */
  @Test
  void sliceDimIsNeverSplit() {
    Program p = alongDims();
    for (String meshText : MESHES) {
      MeshShape mesh = MeshShape.parse(meshText);
      assertTrue(Planner.candidates(model(p), mesh).stream().allMatch(r -> r.axisFor("t").isEmpty()));
      assertFalse(LayoutValidator.validate(p.graph(), mesh, LayoutRules.parse("t:x")).isEmpty());
    }
  }
}
