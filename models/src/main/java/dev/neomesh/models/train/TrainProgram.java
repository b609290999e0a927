package dev.neomesh.models.train;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongToDoubleFunction;
import org.tensorflow.Tensor;

/**
 * The training program on one mesh graph: imported tokens and labels, the model, its gradients
 * ({@link Gradients#of}), global-norm clipping and the optimizer's assignments.
 *
 * <p>With {@code microbatches = n > 1} the graph's batch dim is {@code batch / n}; every
 * parameter gets an accumulator variable, and two fed flags gate the assignments so one session
 * run per microbatch does the right thing: the first microbatch overwrites the accumulators
 * ({@code acc = g/n}), the others add to them, and only the last also applies the optimizer to
 * the accumulated gradient (every other variable keeps its value through a {@code where}). The
 * update is thus that of the full batch, whose loss is the mean of the microbatch losses.
 */
public final class TrainProgram {
  private final MeshGraph graph;
  private final MeshTensor tokens;
  private final MeshTensor labels;
  private final LanguageModel.Outputs model;
  private final MeshTensor gradNorm;
  private final MeshTensor lr;
  private final StepFeeds feeds;
  private final int microbatches;
  private final MeshTensor first;
  private final MeshTensor last;
  private final int nCtx;

  private TrainProgram(MeshGraph graph, MeshTensor tokens, MeshTensor labels, LanguageModel.Outputs model,
      MeshTensor gradNorm, MeshTensor lr, StepFeeds feeds, int microbatches, MeshTensor first, MeshTensor last,
      int nCtx) {
    this.graph = graph;
    this.tokens = tokens;
    this.labels = labels;
    this.model = model;
    this.gradNorm = gradNorm;
    this.lr = lr;
    this.feeds = feeds;
    this.microbatches = microbatches;
    this.first = first;
    this.last = last;
    this.nCtx = nCtx;
  }

  /** The int32 {@code [batch, sequence]} inputs the model reads, under import names {@code name}. */
  public static MeshTensor tokensImport(MeshOps m, String name, int batch, int nCtx) {
    return m.importTensor(name, Shape.of(new Dim("batch", batch), new Dim("sequence", nCtx)), DType.INT32);
  }

  /**
   * Builds the program for global batch {@code batchSize} split into {@code microbatches}
   * microbatches, on a graph seeded with {@code seed}.
   */
  public static TrainProgram build(LanguageModel lm, long seed, int batchSize, int nCtx, int microbatches,
      LearningRateSchedule schedule, OptimizerSettings opt) {
    return build(lm, seed, batchSize, nCtx, microbatches, schedule::at, opt);
  }

  /**
   * As {@link #build(LanguageModel, long, int, int, int, LearningRateSchedule, OptimizerSettings)}, with
   * the learning rate of step t given by {@code lrAt} (fed each step, so one program serves several
   * rates: a learning-rate sweep re-initialises the variables and feeds another).
   */
  public static TrainProgram build(LanguageModel lm, long seed, int batchSize, int nCtx, int microbatches,
      LongToDoubleFunction lrAt, OptimizerSettings opt) {
    if (batchSize % microbatches != 0) {
      throw new IllegalArgumentException(batchSize + " rows in " + microbatches + " microbatches");
    }
    MeshGraph g = new MeshGraph(seed);
    MeshOps m = new MeshOps(g);
    MeshTensor tokens = tokensImport(m, "tokens", batchSize / microbatches, nCtx);
    MeshTensor labels = tokensImport(m, "labels", batchSize / microbatches, nCtx);
    LanguageModel.Outputs out = lm.build(m, tokens, labels, true);
    List<MeshTensor> params = out.parameters();
    List<MeshTensor> grads = Gradients.of(out.loss(), params);
    StepFeeds feeds = new StepFeeds(m);
    MeshTensor lr = feeds.scalar("lr", lrAt);
    Optimizer optimizer = opt.create(out.decays(), out.lrMultiplier());
    if (microbatches == 1 && opt.zeroStage() > 0) {
      MeshTensor norm = zeroStep(m, params, grads, lr, feeds, optimizer, opt);
      return new TrainProgram(g, tokens, labels, out, norm, lr, feeds, 1, null, null, nCtx);
    }
    if (microbatches == 1) {
      GlobalNormClipping.Clipped c = GlobalNormClipping.clip(m, grads, opt.gradientClipping());
      optimizer.apply(m, params, c.grads(), lr, feeds);
      return new TrainProgram(g, tokens, labels, out, c.norm(), lr, feeds, 1, null, null, nCtx);
    }
    MeshTensor first = m.importTensor("microbatch_first", Shape.SCALAR, DType.FLOAT32);
    MeshTensor last = m.importTensor("microbatch_last", Shape.SCALAR, DType.FLOAT32);
    MeshTensor isFirst = m.greater(first, 0.5);
    MeshTensor isLast = m.greater(last, 0.5);
    // under ZeRO each microbatch's gradients are reduce-scattered and accumulated as shards
    List<MeshTensor> targets = params;
    List<MeshTensor> perMicrobatch = grads;
    if (opt.zeroStage() > 0) {
      ZeroSharding.declare(m, params);
      if (!ZeroSharding.stores(opt.zeroStage())) {
        targets = params.stream().map(p -> ZeroSharding.shard(m, p)).toList();
        perMicrobatch = grads.stream().map(gr -> ZeroSharding.shard(m, gr)).toList();
      }
    }
    List<MeshTensor> total = new ArrayList<>();
    for (int i = 0; i < targets.size(); i++) {
      MeshTensor w = targets.get(i);
      MeshTensor part = m.mul(perMicrobatch.get(i), 1.0 / microbatches);
      MeshTensor acc = m.variable(Optimizer.nameOf(m, w) + "/grad_accumulator", m.zeros(w.shape(), w.dtype()), false);
      MeshTensor accNew = m.where(isFirst, part, m.add(acc, part));
      m.assign(acc, accNew);
      total.add(accNew);
    }
    GlobalNormClipping.Clipped c = GlobalNormClipping.clip(m, total, opt.gradientClipping());
    List<MeshTensor> clipped = c.grads();
    java.util.Map<MeshTensor, MeshTensor> paramOfView = new java.util.IdentityHashMap<>();
    for (int i = 0; i < params.size(); i++) {
      paramOfView.put(targets.get(i), params.get(i));
    }
    for (Optimizer.Update u : optimizer.updates(m, targets, clipped, lr, feeds)) {
      MeshTensor param = paramOfView.get(u.variable());
      if (param != null && param != u.variable()) { // a sharded view (stages 1, 2): the new parameter gathered back
        m.assign(param, m.where(isLast, ZeroSharding.gather(m, u.value(), param.shape()), param));
      } else {
        m.assign(u.variable(), m.where(isLast, u.value(), u.variable()));
      }
    }
    return new TrainProgram(g, tokens, labels, out, c.norm(), lr, feeds, microbatches, first, last, nCtx);
  }

  /**
   * The step under ZeRO stage 1, 2 or 3 ({@link ZeroSharding}): clipping and the optimizer on the
   * parameters' sharded views, each new parameter gathered back; returns the global norm. Stages 1
   * and 2 compile to the same step: each device takes its part of the pending gradient sums (a
   * reduce-scatter) and clips the parts, whose norm is one scalar sum per tensor. (DeepSpeed's stage 1
   * keeps whole gradient buffers; a compiled step keeps none between steps, so sharding them costs
   * nothing and saves the allreduce's second half.) Stage 3's parameters are stored as the views,
   * so clipping and the optimizer run on them directly.
   */
  private static MeshTensor zeroStep(MeshOps m, List<MeshTensor> params, List<MeshTensor> grads, MeshTensor lr,
      StepFeeds feeds, Optimizer optimizer, OptimizerSettings opt) {
    ZeroSharding.declare(m, params);
    if (ZeroSharding.stores(opt.zeroStage())) {
      for (MeshTensor p : params) {
        if (p.shape().rank() > 0 && !p.shape().dims().get(0).name().startsWith(ZeroSharding.PREFIX)) {
          throw new IllegalArgumentException("zero_stage 3 needs the model to store its parameters as sharded views, "
              + "but " + Optimizer.nameOf(m, p) + " is " + p.shape() + ": build the model with zero_stage 3 too");
        }
      }
      // stage 3: the parameters are the views, their gradients already reduce-scattered (the gathers' gradients)
      GlobalNormClipping.Clipped c = GlobalNormClipping.clip(m, grads, opt.gradientClipping());
      optimizer.apply(m, params, c.grads(), lr, feeds);
      return c.norm();
    }
    // stages 1 and 2 alike: each device takes its part of the pending sums (a reduce-scatter) and clips the parts
    GlobalNormClipping.Clipped c = GlobalNormClipping.clip(m,
        grads.stream().map(gr -> ZeroSharding.shard(m, gr)).toList(), opt.gradientClipping());
    MeshTensor norm = c.norm();
    List<MeshTensor> viewGrads = c.grads();
    // each view sliced from its parameter once its clipped gradient exists, not held from the step's start
    List<MeshTensor> views = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      views.add(ZeroSharding.shard(m, m.after(params.get(i), viewGrads.get(i))));
    }
    java.util.Map<MeshTensor, MeshTensor> paramOfView = new java.util.IdentityHashMap<>();
    for (int i = 0; i < params.size(); i++) {
      paramOfView.put(views.get(i), params.get(i));
    }
    for (Optimizer.Update u : optimizer.updates(m, views, viewGrads, lr, feeds)) {
      MeshTensor param = paramOfView.get(u.variable());
      if (param == null) {
        m.assign(u.variable(), u.value()); // a slot: a variable of the view's shape, sharded
      } else {
        m.assign(param, ZeroSharding.gather(m, u.value(), param.shape()));
      }
    }
    return norm;
  }

  public MeshGraph graph() {
    return graph;
  }

  public MeshTensor loss() {
    return model.loss();
  }

  /** The imported int32 {@code [batch, sequence]} tokens (one microbatch's rows). */
  public MeshTensor tokens() {
    return tokens;
  }

  /** The imported int32 {@code [batch, sequence]} labels. */
  public MeshTensor labels() {
    return labels;
  }

  public MeshTensor logits() {
    return model.logits();
  }

  public List<MeshTensor> parameters() {
    return model.parameters();
  }

  public MeshTensor gradNorm() {
    return gradNorm;
  }

  public MeshTensor lr() {
    return lr;
  }

  public StepFeeds feeds() {
    return feeds;
  }

  public int microbatches() {
    return microbatches;
  }

  /** The outcome of one step: the mean loss over its microbatches and the gradient norm of the last. */
  public record StepResult(double loss, double gradNorm) {}

  /**
   * Runs training step {@code step} (0-based) on row-major {@code [batch, n_ctx]} inputs and
   * labels: one session run per microbatch, each with its own random step.
   */
  public StepResult runStep(MeshRuntime rt, long step, int[] inputs, int[] labelIds) {
    return runStep(rt, step, inputs, labelIds, false);
  }

  /** As {@link #runStep(MeshRuntime, long, int[], int[])}; {@code traced} records TensorFlow's op timings. */
  public StepResult runStep(MeshRuntime rt, long step, int[] inputs, int[] labelIds, boolean traced) {
    int rows = inputs.length / nCtx / microbatches;
    int per = rows * nCtx;
    double loss = 0;
    double norm = 0;
    for (int i = 0; i < microbatches; i++) {
      List<Tensor> open = new ArrayList<>();
      try {
        Tensor x = HostTensors.ofInts(tokens.shape(), Arrays.copyOfRange(inputs, i * per, (i + 1) * per));
        open.add(x);
        Tensor y = HostTensors.ofInts(labels.shape(), Arrays.copyOfRange(labelIds, i * per, (i + 1) * per));
        open.add(y);
        MeshRuntime.Step run = rt.step().feed(tokens, x).feed(labels, y).fetch(model.loss()).fetch(gradNorm)
            .randomStep(step * microbatches + i).withUpdates();
        if (traced) {
          run.traced();
        }
        open.addAll(feeds.feed(run, step));
        if (microbatches > 1) {
          Tensor f = HostTensors.of(Shape.SCALAR, DType.FLOAT32, new double[] {i == 0 ? 1 : 0});
          open.add(f);
          Tensor l = HostTensors.of(Shape.SCALAR, DType.FLOAT32, new double[] {i == microbatches - 1 ? 1 : 0});
          open.add(l);
          run.feed(first, f).feed(last, l);
        }
        List<double[]> r = run.run();
        loss += r.get(0)[0];
        norm = r.get(1)[0];
      } finally {
        open.forEach(Tensor::close);
      }
    }
    return new StepResult(loss / microbatches, norm);
  }
}
