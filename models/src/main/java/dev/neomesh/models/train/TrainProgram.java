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
 *
 * <p>Under ZeRO stage 1, 2 or 3 ({@link ZeroSharding}) clipping and the optimizer run on the
 * parameters' sharded views, each new parameter gathered back. Stages 1 and 2 compile to the same
 * step: each device takes its part of the pending gradient sums (a reduce-scatter) and clips the
 * parts, whose norm is one scalar sum per tensor. (DeepSpeed's stage 1 keeps whole gradient buffers;
 * a compiled step keeps none between steps, so sharding them costs nothing and saves the allreduce's
 * second half.) Stage 3's parameters are stored as the views, so clipping and the optimizer run on
 * them directly. bfloat16 parameters are trained through float32 masters; {@link OptimizerTargets}
 * keeps that bookkeeping and ZeRO's.
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
    // what the optimizer updates: the parameters, ZeRO's sharded views of them, or bf16 parameters' f32 masters
    OptimizerTargets targets = OptimizerTargets.of(m, params, grads, opt.zeroStage());
    if (microbatches == 1) {
      GlobalNormClipping.Clipped c = GlobalNormClipping.clip(m, targets.grads(), opt.gradientClipping());
      targets.apply(m, optimizer, c.grads(), lr, feeds, null);
      return new TrainProgram(g, tokens, labels, out, c.norm(), lr, feeds, 1, null, null, nCtx);
    }
    MeshTensor first = m.importTensor("microbatch_first", Shape.SCALAR, DType.FLOAT32);
    MeshTensor last = m.importTensor("microbatch_last", Shape.SCALAR, DType.FLOAT32);
    MeshTensor isFirst = m.greater(first, 0.5);
    MeshTensor isLast = m.greater(last, 0.5);
    // under ZeRO each microbatch's gradients are reduce-scattered and accumulated as shards
    List<MeshTensor> total = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      MeshTensor w = targets.targets().get(i);
      MeshTensor part = m.mul(targets.grads().get(i), 1.0 / microbatches);
      MeshTensor acc = m.variable(Optimizer.nameOf(m, w) + "/grad_accumulator", m.zeros(w.shape(), w.dtype()), false);
      MeshTensor accNew = m.where(isFirst, part, m.add(acc, part));
      m.assign(acc, accNew);
      total.add(accNew);
    }
    GlobalNormClipping.Clipped c = GlobalNormClipping.clip(m, total, opt.gradientClipping());
    targets.apply(m, optimizer, c.grads(), lr, feeds, isLast);
    return new TrainProgram(g, tokens, labels, out, c.norm(), lr, feeds, microbatches, first, last, nCtx);
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
