package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.cluster.ClusterFault;
import dev.neomesh.mesh.cluster.ClusterHealth;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.types.TInt64;

/**
 * A mesh program lowered into one TensorFlow graph and the session that runs it: the place where
 * the three values of a run meet (program, mesh with its devices, layout rules). Closing it frees
 * the native graph and session.
 */
public final class MeshRuntime implements AutoCloseable {
  private final Graph graph;
  private final Session session;
  private final Lowering lowering;
  private final Devices devices;
  private final Map<MeshTensor, Operand<?>> exports = new IdentityHashMap<>();
  private org.tensorflow.proto.RunMetadata lastRunMetadata;

  private MeshRuntime(Graph graph, Session session, Lowering lowering, Devices devices) {
    this.graph = graph;
    this.session = session;
    this.lowering = lowering;
    this.devices = devices;
  }

  /** Lowers {@code program} onto {@code devices} arranged as {@code mesh} under {@code rules}, with fused kernels. */
  public static MeshRuntime create(MeshGraph program, MeshShape mesh, LayoutRules rules, Devices devices) {
    return create(program, mesh, rules, devices, LoweringOptions.DEFAULT);
  }

  /** Lowers {@code program} onto {@code devices} arranged as {@code mesh} under {@code rules}, with {@code options}. */
  public static MeshRuntime create(MeshGraph program, MeshShape mesh, LayoutRules rules, Devices devices,
                                   LoweringOptions options) {
    Graph graph = new Graph();
    try {
      Lowering lowering = new Lowering(program, new PlacementMeshImpl(graph, mesh, devices, options.jit()), rules, options);
      Session session = devices.isRemote()
          ? org.tensorflow.RemoteSessions.connect(graph, devices.target(), devices.config())
          : new Session(graph, devices.config());
      return new MeshRuntime(graph, session, lowering, devices);
    } catch (RuntimeException e) {
      graph.close();
      throw e;
    }
  }

  /** On {@code mesh.size()} virtual CPU devices of this machine. */
  public static MeshRuntime onVirtualCpus(MeshGraph program, MeshShape mesh, LayoutRules rules) {
    return create(program, mesh, rules, Devices.virtualCpus(mesh.size()));
  }

  /** On {@code mesh.size()} virtual CPU devices of this machine, with {@code options}. */
  public static MeshRuntime onVirtualCpus(MeshGraph program, MeshShape mesh, LayoutRules rules,
                                          LoweringOptions options) {
    return create(program, mesh, rules, Devices.virtualCpus(mesh.size()), options);
  }

  public Lowering lowering() {
    return lowering;
  }

  /** The mesh op that made each TensorFlow op of this runtime's graph ({@link Lowering#meshOpsOfNodes}). */
  public Map<String, dev.neomesh.mesh.ir.Op> meshOpsOfNodes() {
    return lowering.meshOpsOfNodes(graph);
  }

  public Counters counters() {
    return lowering.counters();
  }

  public Graph graph() {
    return graph;
  }

  public Session session() {
    return session;
  }

  /** Sets every variable to its initial value. */
  public void initialize() {
    initialize(name -> true);
  }

  /**
   * Sets the variables whose names {@code which} accepts to their initial values: the others are about
   * to be restored, and a model's random initialisation costs seconds.
   */
  public void initialize(java.util.function.Predicate<String> which) {
    Session.Runner r = session.runner();
    lowering.variables().stream().filter(v -> which.test(v.variable().name()))
        .forEach(v -> v.initializers().forEach(r::addTarget));
    if (!r.isEmpty()) {
      run(r, false).close();
    }
  }

  public Devices devices() {
    return devices;
  }

  /**
   * Runs {@code r} (with its metadata when {@code traced}). On a cluster, a failure whose cause is
   * a task that no longer answers becomes a {@link ClusterFault} naming the task and its address,
   * not TensorFlow's RPC error; any other failure is rethrown as it came.
   */
  public Result run(Session.Runner r, boolean traced) {
    try {
      return traced ? r.runAndFetchMetadata() : r.run();
    } catch (TensorFlowException e) {
      if (devices.isRemote()) {
        Optional<ClusterHealth.Unreachable> gone = ClusterHealth.awaitUnreachable(devices.taskAddresses(),
            java.time.Duration.ofSeconds(5));
        if (gone.isPresent()) {
          throw new ClusterFault(gone.get(), e);
        }
      }
      throw e;
    }
  }

  /** The full value of {@code t} as a fetchable TensorFlow output (built once per tensor). */
  public Operand<?> exported(MeshTensor t) {
    return exports.computeIfAbsent(t, lowering::export);
  }

  /** TensorFlow's statistics of the last {@link Step#traced} run, or null. */
  public org.tensorflow.proto.RunMetadata lastRunMetadata() {
    return lastRunMetadata;
  }

  /** Starts one run: feeds, fetches and whether to run the program's assignments. */
  public Step step() {
    return new Step();
  }

  /** One session run, built up then run once. */
  public final class Step {
    private final Map<MeshTensor, Tensor> feeds = new LinkedHashMap<>();
    private final List<MeshTensor> fetches = new ArrayList<>();
    private boolean updates;
    private long randomStep;
    private boolean trace;

    public Step feed(MeshTensor t, Tensor value) {
      feeds.put(t, value);
      return this;
    }

    public Step fetch(MeshTensor t) {
      fetches.add(t);
      return this;
    }

    /** The value of the graph's random step for this run (dropout masks differ per step); 0 if not set. */
    public Step randomStep(long step) {
      randomStep = step;
      return this;
    }

    /** Record TensorFlow's per-op step statistics of this run (see {@link MeshRuntime#lastRunMetadata}). */
    public Step traced() {
      trace = true;
      return this;
    }

    /** Also run every assignment of the program (a training step). */
    public Step withUpdates() {
      updates = true;
      return this;
    }

    /** Runs and returns the fetched values as doubles, in fetch order. */
    public List<double[]> run() {
      Session.Runner r = session.runner();
      feeds.forEach((t, v) -> r.feed(lowering.placeholder(t), v));
      fetches.forEach(t -> r.fetch(exported(t)));
      if (updates) {
        lowering.updates().forEach(r::addTarget);
      }
      List<double[]> out = new ArrayList<>();
      Optional<MeshTensor> stepTensor = lowering.graph().randomStepIfUsed();
      try (TInt64 step = TInt64.scalarOf(randomStep)) {
        if (stepTensor.isPresent() && !feeds.containsKey(stepTensor.get())) {
          r.feed(lowering.placeholder(stepTensor.get()), step);
        }
        if (trace) {
          r.setOptions(org.tensorflow.proto.RunOptions.newBuilder()
              .setTraceLevel(org.tensorflow.proto.RunOptions.TraceLevel.FULL_TRACE).build());
        }
        try (Result result = MeshRuntime.this.run(r, trace)) {
          if (trace) {
            lastRunMetadata = result.getMetadata().orElse(null);
          }
          for (int i = 0; i < fetches.size(); i++) {
            out.add(HostTensors.toDoubles(result.get(i)));
          }
        }
      }
      return out;
    }
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
