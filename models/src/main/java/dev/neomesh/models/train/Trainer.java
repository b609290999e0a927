package dev.neomesh.models.train;

import dev.neomesh.data.Batch;
import dev.neomesh.data.InputPipeline;
import dev.neomesh.data.RecordIndex;
import dev.neomesh.data.Sampler;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ckpt.Checkpointer;
import dev.neomesh.mesh.cluster.ClusterFault;
import dev.neomesh.mesh.ckpt.Checkpoints;
import dev.neomesh.mesh.ckpt.Manifest;
import dev.neomesh.mesh.ckpt.WholeTensors;
import dev.neomesh.mesh.ir.VariableOp;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.Tensor;

/**
 * Trains a {@link LanguageModel} as GPT-Neo's main loop does: builds the training program,
 * lowers it on the config's mesh and layout, restores the latest checkpoint of
 * {@code model_path} (any mesh or layout may have written it), seeks the input pipeline to that
 * step, and trains to {@code train_steps}, checkpointing every {@code steps_per_checkpoint} steps
 * (keeping the last {@value #KEEP}) and evaluating after each checkpoint when {@code eval_steps > 0}.
 * Dropout masks are keyed on the step through the graph's random step, so a resumed run computes
 * exactly the losses an uninterrupted one would have.
 */
public final class Trainer {
  /** Checkpoints kept. */
  public static final int KEEP = 5;

  private final TrainSettings s;
  private final LanguageModel lm;
  private final PrintStream out;
  private final InitialWeights initial;

  public Trainer(TrainSettings settings, LanguageModel model, PrintStream out) {
    this(settings, model, out, null);
  }

  /**
   * A trainer whose runs start from {@code initial} (null: the model's random initialisation) where
   * {@code model_path} has no checkpoint yet; evaluation, sampling and scoring use {@code initial}
   * instead of model_path's checkpoints.
   */
  public Trainer(TrainSettings settings, LanguageModel model, PrintStream out, InitialWeights initial) {
    this.s = settings;
    this.lm = model;
    this.out = out;
    this.initial = initial;
  }

  /** What a training run did: the first step it ran, the step it reached, and each step's loss. */
  public record Result(long startStep, long endStep, List<Double> losses, double tokensPerSecond) {}

  /** Evaluation metrics: mean loss, GPT-Neo's perplexity (mean of exp(batch loss)) and bits per byte. */
  public record EvalResult(long step, double loss, double perplexity, double bitsPerByte) {}

  // ------------------------------------------------------------------------------- placement

  /** The mesh ({@code mesh_shape}). */
  public MeshShape mesh() {
    return s.meshShape();
  }

  public Devices devices() {
    MeshShape mesh = mesh();
    Devices d = s.devices();
    if (d == null) {
      return Devices.virtualCpus(mesh.size());
    }
    if (d.size() != mesh.size()) {
      String given = d.isRemote() ? "the cluster " + String.join(",", d.taskAddresses()) + " has " + d.size()
          + " devices (" + d.taskAddresses().size() + " tasks)" : d.size() + " devices were given ("
          + String.join(",", d.specs().stream().map(Object::toString).toList()) + ")";
      throw new NeomeshException("mesh_shape \"" + s.meshShape() + "\" has " + mesh.size() + " devices but " + given
          + ": set a mesh of " + d.size() + " devices (e.g. --set mesh_shape=x:" + d.size() + ", or plan one with "
          + "--auto_layout_and_mesh_shape), or " + (d.isRemote() ? "run " + mesh.size() + " devices in the cluster"
          : "give exactly " + mesh.size() + " devices with --devices/--gpu_ids"));
    }
    return d;
  }

  /** The settings this trainer runs with. */
  TrainSettings settings() {
    return s;
  }

  /** {@code wanted} rows rounded up to a multiple of the replicas, as the batch dim must divide over its mesh axis. */
  int batchFor(int wanted) {
    int replicas = Microbatching.replicas(mesh(), s.layout());
    return (wanted + replicas - 1) / replicas * replicas;
  }

  /** Lowers a program of this run (training, evaluation or sampling), gradients bucketed for data parallelism. */
  MeshRuntime lower(MeshGraph g) {
    try {
      return MeshRuntime.create(g, mesh(), s.layout(), devices(), dev.neomesh.mesh.lower.LoweringOptions.TRAINING);
    } catch (dev.neomesh.mesh.LayoutException e) {
      if (s.optimizer().zeroStage() > 0 && e.getMessage().contains("\"" + ZeroSharding.PREFIX)) {
        throw new NeomeshException("zero_stage " + s.optimizer().zeroStage() + " shards parameters over mesh axis "
            + s.layout().axisFor("batch").orElse("?") + " (batch's), but under layout \"" + s.layout() + "\" a"
            + " parameter's sharded view would split two of its dims over one axis: " + e.getMessage()
            + ". Move the other dim of that parameter (e.g. MoE's experts) to another axis, or set zero_stage to 0");
      }
      throw e;
    }
  }

  private List<InputPipeline.Source> sources() {
    return InputPipeline.sources(s.datasetConfigs(), s.datasets());
  }

  /** A ZeRO stage above 0 needs a mesh axis of more than one device that the batch dim is split on. */
  private void checkZeroStage() {
    int stage = s.optimizer().zeroStage();
    if (stage > 0 && Microbatching.replicas(mesh(), s.layout()) == 1) {
      throw new NeomeshException("zero_stage " + stage + " shards the optimizer state over the mesh axis the batch dim"
          + " is split on, but layout \"" + s.layout() + "\" splits batch over no axis of more than one device on mesh "
          + s.meshShape() + ": add a rule such as batch:x, or set zero_stage to 0");
    }
  }

  /** The number of microbatches per step for this mesh and layout. */
  public int microbatches() {
    return Microbatching.count(s.tokensPerMbPerReplica(), s.nCtx(), s.trainBatchSize(),
        Microbatching.replicas(mesh(), s.layout()));
  }

  /**
   * Fails now, before a graph is built, on each problem of these settings that would otherwise stop
   * a run only after its training time is spent: devices that do not match the mesh, a training path
   * that matches no files, an HDF5 dataset in a mode other than chunks or whose files are not in
   * Cerebras' layout or not n_ctx long, and, when {@code eval_steps > 0} (an evaluation after every checkpoint), a
   * dataset without an {@code eval_path} or whose eval_path matches no files, or an eval batch that
   * the {@code batch} dim's mesh axis does not divide. {@link #train} calls it first.
   */
  public void check() {
    devices();
    checkZeroStage();
    checkInitialWeights();
    List<InputPipeline.Source> sources = sources();
    for (InputPipeline.Source src : sources) {
      RecordIndex.resolve(src.config().path(), s.baseDir(), String.valueOf(src.config().source()));
      Sampler.checkHdf5(src.config(), src.entry(), src.config().path(), s.nCtx(), s.baseDir());
    }
    if (s.evalSteps() > 0) {
      requireEvalSets(sources);
      int replicas = Microbatching.replicas(mesh(), s.layout());
      if (s.evalBatchSize() % replicas != 0) {
        throw new NeomeshException("eval_batch_size " + s.evalBatchSize() + " does not divide over the " + replicas
            + " devices that layout \"" + s.layout() + "\" splits the batch dim over on mesh " + s.meshShape()
            + ", so evaluation (eval_steps " + s.evalSteps() + ") could not run: set eval_batch_size to a multiple of "
            + replicas + " (e.g. --set eval_batch_size=" + replicas * Math.max(1, s.evalBatchSize() / replicas)
            + "), or eval_steps to 0");
      }
    }
  }

  /**
   * The initial weights (when given) hold every trainable parameter of the model with its shape:
   * checked on the model's mesh graph alone, before anything is lowered or written.
   */
  public void checkInitialWeights() {
    if (initial != null) {
      Forward f = forward(1);
      List<Manifest.Entry> params = new ArrayList<>();
      for (MeshTensor t : f.model().parameters()) {
        VariableOp v = (VariableOp) t.op();
        params.add(new Manifest.Entry(v.checkpointName(), v.checkpointDtype().name(), t.shape().names(),
            t.shape().sizes()));
      }
      initial.check(params);
    }
  }

  /**
   * Restores the trainable {@code parameters} of {@code rt} from the initial weights: writes them as
   * a checkpoint in a temporary folder (one tensor at a time) and restores that with the run's
   * layout, so each device reads only its slices; every other variable keeps its initial value.
   */
  private void startFromInitialWeights(MeshRuntime rt, Checkpointer ckpt, List<MeshTensor> parameters) {
    List<String> names = parameters.stream().map(t -> ((VariableOp) t.op()).name()).toList();
    List<Manifest.Entry> entries = ckpt.entries().stream().filter(e -> names.contains(e.name())).toList();
    Path tmp;
    try {
      tmp = Files.createTempDirectory("neomesh-import");
    } catch (IOException e) {
      throw new NeomeshException("cannot create a temporary folder for the imported weights: " + e
          + "; set java.io.tmpdir (JAVA_TOOL_OPTIONS=-Djava.io.tmpdir=DIR) to a writable folder", e);
    }
    try (WholeTensors w = new WholeTensors()) {
      Checkpoints.Checkpoint c = w.writeCheckpoint(tmp, 0, entries, initial::values, "imported");
      ckpt.restoreOnly(c, names);
    } finally {
      try (java.util.stream.Stream<Path> walk = Files.walk(tmp)) {
        for (Path f : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(f);
        }
      } catch (IOException e) {
        out.println("note: could not delete the temporary import folder " + tmp + ": " + e);
      }
    }
    out.println("started from " + initial.source());
  }

  /**
   * When {@code model_path} holds GPT-Neo's own checkpoint files but no neomesh checkpoint, a run
   * would silently start afresh beside them: refuse, and say how to import them.
   */
  private void refuseForeignCheckpoint() {
    if (initial == null && GptNeoFiles.present(s.modelPath())) {
      throw new NeomeshException("model_path " + s.modelPath() + " holds GPT-Neo checkpoint files (model.ckpt-N) but "
          + "no neomesh checkpoint: start from them with --init_from " + s.modelPath() + ", or choose another "
          + "model_path to train from scratch");
    }
  }

  /** Each dataset's eval set exists: an eval_path in its config that matches files. */
  private void requireEvalSets(List<InputPipeline.Source> sources) {
    for (InputPipeline.Source src : sources) {
      if (!src.config().hasEval()) {
        throw new NeomeshException("dataset " + src.config().id() + " (" + src.config().source() + ") has no "
            + "eval_path, but eval_steps " + s.evalSteps() + " evaluates on it: add an eval_path to that dataset "
            + "config, or set eval_steps to 0 (e.g. --set eval_steps=0)");
      }
      RecordIndex.resolve(src.config().evalPath(), s.baseDir(), String.valueOf(src.config().source()));
      Sampler.checkHdf5(src.config(), src.entry(), src.config().evalPath(), s.nCtx(), s.baseDir());
    }
  }

  // -------------------------------------------------------------------------------- training

  /** Trains from the latest checkpoint (or from scratch) to {@code train_steps}; {@link #check} first. */
  public Result train() {
    check();
    int micro = microbatches();
    TrainProgram p = TrainProgram.build(lm, s.seed(), s.trainBatchSize(), s.nCtx(), micro, s.schedule(), s.optimizer());
    List<Double> losses = new ArrayList<>();
    long tokensPerStep = (long) s.trainBatchSize() * s.nCtx();
    try (MeshRuntime rt = lower(p.graph())) {
      rt.initialize();
      Checkpointer ckpt = new Checkpointer(rt);
      Optional<Checkpoints.Checkpoint> latest = ckpt.restoreLatest(s.modelPath());
      long start = latest.map(Checkpoints.Checkpoint::step).orElse(0L);
      if (latest.isPresent()) {
        out.println("resumed from checkpoint step " + start + " in " + s.modelPath()
            + (initial != null ? " (--init_from is used only to start a run)" : ""));
      } else if (initial != null) {
        startFromInitialWeights(rt, ckpt, p.parameters());
      } else {
        refuseForeignCheckpoint();
      }
      if (start >= s.trainSteps()) {
        out.println("already trained to step " + start + " (train_steps " + s.trainSteps() + ")");
        return new Result(start, start, losses, 0);
      }
      Devices devices = devices();
      out.printf(Locale.ROOT, "training %s to step %d on mesh %s (layout %s), %d devices%s, batch %d x %d tokens%s%n",
          s.modelPath(), s.trainSteps(), s.meshShape(), s.layout().rules().isEmpty() ? "none" : s.layout(),
          mesh().size(), devices.isRemote() ? "" : " (" + devices.threadsDescription() + ")", s.trainBatchSize(),
          s.nCtx(), micro > 1 ? ", " + micro + " microbatches" : "");
      double stepSeconds = 0;
      long timedSteps = 0;
      try (InputPipeline data = InputPipeline.train(sources(), InputPipeline.Options.of(s.nCtx(), s.trainBatchSize(),
          s.seed(), s.baseDir()));
          MetricsLog metrics = new MetricsLog(s.modelPath());
          Progress progress = new Progress("train", start, s.trainSteps(), s.progressBar(), out)) {
        data.seek(start);
        long intervalStart = System.nanoTime();
        long intervalSteps = 0;
        double intervalLoss = 0;
        for (long step = start; step < s.trainSteps(); step++) {
          Batch b = data.next();
          if (b.step() != step) {
            throw new IllegalStateException("input pipeline at step " + b.step() + ", trainer at " + step);
          }
          long t0 = System.nanoTime();
          TrainProgram.StepResult r;
          try {
            r = p.runStep(rt, step, b.inputs(), b.labels());
          } catch (ClusterFault f) {
            Optional<Checkpoints.Checkpoint> last = Checkpoints.latest(s.modelPath());
            throw new NeomeshException("training stopped in step " + (step + 1) + ": " + f.getMessage() + "; it resumes "
                + "from " + last.map(c -> "checkpoint step " + c.step() + " in " + s.modelPath() + ", which is intact")
                .orElse("the start: no checkpoint was written yet"), f);
          }
          double dt = (System.nanoTime() - t0) / 1e9;
          if (step > start) { // the first step includes TensorFlow's graph optimisation
            stepSeconds += dt;
            timedSteps++;
          }
          if (!Double.isFinite(r.loss())) {
            throw new NeomeshException("loss is " + r.loss() + " at step " + step + ": training diverged. Lower lr, "
                + "add warmup_steps or gradient_clipping, and resume from the last checkpoint in " + s.modelPath());
          }
          losses.add(r.loss());
          intervalSteps++;
          intervalLoss += r.loss();
          long done = step + 1;
          progress.step(done, String.format(Locale.ROOT, "loss %.4f", r.loss()));
          if (done % s.logEvery() == 0 || done == s.trainSteps()) {
            double seconds = (System.nanoTime() - intervalStart) / 1e9;
            double tps = intervalSteps * tokensPerStep / seconds;
            double lr = s.schedule().at(step);
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("loss", intervalLoss / intervalSteps);
            v.put("lr", lr);
            v.put("tokens_per_sec", tps);
            v.put("seconds", seconds);
            v.put("grad_norm", r.gradNorm());
            metrics.log(done, v, "train");
            progress.line(String.format(Locale.ROOT, "step %d/%d  loss %.4f  lr %.3g  %.0f tokens/s", done,
                s.trainSteps(), intervalLoss / intervalSteps, lr, tps));
            intervalStart = System.nanoTime();
            intervalSteps = 0;
            intervalLoss = 0;
          }
          boolean last = done == s.trainSteps();
          if (done % s.stepsPerCheckpoint() == 0 || last) {
            ckpt.save(s.modelPath(), done, KEEP);
            if (s.evalSteps() > 0) {
              EvalResult e = evaluate();
              Map<String, Object> v = new LinkedHashMap<>();
              v.put("eval", true);
              v.put("loss", e.loss());
              v.put("perplexity", e.perplexity());
              v.put("bits_per_byte", e.bitsPerByte());
              metrics.log(done, v, "eval");
              progress.line(describe(e));
            }
            intervalStart = System.nanoTime();
          }
        }
      }
      double tps = timedSteps > 0 ? timedSteps * tokensPerStep / stepSeconds : 0;
      out.printf(Locale.ROOT, "trained steps %d..%d: final loss %.4f, %.0f tokens/s (training steps only); "
          + "checkpoint %s%n", start + 1, s.trainSteps(), losses.get(losses.size() - 1), tps,
          s.modelPath().resolve("ckpt-" + s.trainSteps()));
      return new Result(start, s.trainSteps(), losses, tps);
    }
  }

  public static String describe(EvalResult e) {
    return String.format(Locale.ROOT, "eval at step %d: loss %.4f  perplexity %.3f  bits per byte %.4f", e.step(),
        e.loss(), e.perplexity(), e.bitsPerByte());
  }

  // ------------------------------------------------------------------------------ evaluation

  /**
   * A forward-only program (no dropout) with the given batch, for eval, sampling and scoring; its
   * logits ({@code model().logits()}) are row-major {@code [batch, sequence, vocab]} and logProbs
   * ({@link TokenLogProbs} of the labels) row-major {@code [batch, sequence]} on the host.
   */
  record Forward(MeshGraph graph, MeshTensor tokens, MeshTensor labels, LanguageModel.Outputs model,
                 MeshTensor logProbs) {}

  Forward forward(int batch) {
    MeshGraph g = new MeshGraph(s.seed());
    MeshOps m = new MeshOps(g);
    MeshTensor tokens = TrainProgram.tokensImport(m, "tokens", batch, s.nCtx());
    MeshTensor labels = TrainProgram.tokensImport(m, "labels", batch, s.nCtx());
    LanguageModel.Outputs o = lm.build(m, tokens, labels, false);
    dev.neomesh.mesh.Shape order = dev.neomesh.mesh.Shape.of(tokens.shape().dim("batch"),
        tokens.shape().dim("sequence"), o.logits().shape().dim("vocab"));
    MeshTensor logits = m.transpose(o.logits(), order); // row-major [batch, sequence, vocab] on the host
    MeshTensor logProbs = m.transpose(TokenLogProbs.of(m, o.logits(), labels, order.dim("vocab")).logProbs(),
        tokens.shape());
    return new Forward(g, tokens, labels, new LanguageModel.Outputs(o.loss(), logits, o.parameters(), o.decays(),
        o.lrMultiplier()),
        logProbs);
  }

  /**
   * The checkpoint to {@code what} ("evaluate", "score", ...): step {@code step}'s, or the latest when
   * null; a clear error when there is none. Found without building a graph, so a caller can check first.
   */
  public Checkpoints.Checkpoint checkpoint(Long step, String what) {
    if (step != null) {
      return Checkpoints.find(s.modelPath(), step);
    }
    return Checkpoints.latest(s.modelPath()).orElseThrow(() -> new NeomeshException("no checkpoint in "
        + s.modelPath() + " to " + what + ": train first (run without --eval/--predict/--score), or point model_path "
        + "at a trained run"));
  }

  /**
   * Loads the weights an evaluation, sample or score uses into {@code rt}: the initial weights when
   * given, else checkpoint {@code step} of model_path (the latest when null); the step they stand
   * for (0 for imported weights). Every other variable (a generation cache) gets its initial value;
   * the parameters are not initialised first.
   */
  long loadWeights(MeshRuntime rt, List<MeshTensor> parameters, Long step, String what) {
    List<String> names = parameters.stream().map(t -> ((VariableOp) t.op()).name()).toList();
    rt.initialize(name -> !names.contains(name));
    Checkpointer ckpt = new Checkpointer(rt);
    if (initial != null) {
      startFromInitialWeights(rt, ckpt, parameters);
      return 0;
    }
    Checkpoints.Checkpoint c = requireWeights(step, what);
    // the parameters only: a program may hold state of its own (generation's caches)
    ckpt.restoreOnly(c, names);
    return c.step();
  }

  /**
   * The checkpoint {@link #loadWeights} will restore (null when the initial weights are used); a
   * clear error when there is none. Found without building a graph, so a caller can check first.
   */
  Checkpoints.Checkpoint requireWeights(Long step, String what) {
    if (initial != null) {
      return null;
    }
    if (step == null && Checkpoints.latest(s.modelPath()).isEmpty()) {
      refuseForeignCheckpoint();
    }
    return checkpoint(step, what);
  }

  /**
   * Evaluates the latest checkpoint on {@code eval_steps} batches of the eval set (the datasets'
   * {@code eval_path}), always the same batches. Bits per byte: loss/ln 2 times tokens per byte
   * (1 for the char tokenizer; GPT-Neo's 0.29335 for GPT-2 tokens).
   */
  public EvalResult evaluate() {
    if (s.evalSteps() <= 0) {
      throw new NeomeshException("eval_steps is " + s.evalSteps() + ": set eval_steps > 0 (e.g. --set eval_steps=10) "
          + "to evaluate");
    }
    List<InputPipeline.Source> sources = sources();
    requireEvalSets(sources);
    Forward f = forward(s.evalBatchSize());
    double tokensPerByte = "char".equals(sources.get(0).config().tokenizerPath()) ? 1.0 : 0.29335;
    try (MeshRuntime rt = lower(f.graph());
        InputPipeline data = InputPipeline.eval(sources, InputPipeline.Options.of(s.nCtx(), s.evalBatchSize(),
            s.seed(), s.baseDir()))) {
      long step = loadWeights(rt, f.model().parameters(), null, "evaluate");
      double sum = 0;
      double ppl = 0;
      for (long i = 0; i < s.evalSteps(); i++) {
        Batch b = data.next();
        try (Tensor x = HostTensors.ofInts(f.tokens().shape(), b.inputs());
            Tensor y = HostTensors.ofInts(f.labels().shape(), b.labels())) {
          double loss = rt.step().feed(f.tokens(), x).feed(f.labels(), y).fetch(f.model().loss()).run().get(0)[0];
          sum += loss;
          ppl += Math.exp(loss);
        }
      }
      double loss = sum / s.evalSteps();
      return new EvalResult(step, loss, ppl / s.evalSteps(), loss * tokensPerByte / Math.log(2));
    }
  }
}
