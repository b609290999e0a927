package dev.neomesh.models.cli;

import dev.neomesh.data.CheckDataset;
import dev.neomesh.data.DataException;
import dev.neomesh.data.DatasetConfig;
import dev.neomesh.data.DatasetEntry;
import dev.neomesh.data.InputPipeline;
import dev.neomesh.data.tokenizer.Tokenizer;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ckpt.Checkpoints;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.interop.HfExport;
import dev.neomesh.models.interop.WeightImports;
import dev.neomesh.models.train.InitialWeights;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.OptimizerSettings;
import dev.neomesh.models.train.RunLock;
import dev.neomesh.models.train.Scorer;
import dev.neomesh.models.train.TrainProgram;
import dev.neomesh.models.train.TrainSettings;
import dev.neomesh.models.train.Trainer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.kohsuke.args4j.CmdLineException;
import org.kohsuke.args4j.CmdLineParser;
import org.kohsuke.args4j.Option;

/**
 * {@code scripts/neomesh}: GPT-Neo's {@code main.py} on neomesh. Reads the model config
 * ({@code --model} is a path, or a name under {@code configs/}), applies {@code --set key=value}
 * overrides, then checks the dataset, plans a layout, evaluates, samples, scores, or trains (resuming
 * from the latest checkpoint in {@code model_path}). A user error prints its message, without a stack
 * trace unless {@code --verbose}, and exits 1; a bad flag exits 2. Nothing but {@code --new}
 * deletes anything.
 */
public final class Main {
  /** GPT-Neo's built-in prompt (its first sentence) when {@code --prompt ""} or no prompt is given. */
  public static final String UNICORNS = "In a shocking finding, scientist discovered a herd of unicorns living in a "
      + "remote, previously unexplored valley, in the Andes Mountains.";

  @Option(name = "--model", metaVar = "PATH|NAME",
      usage = "model config: a .json path, or a name under configs/ (e.g. default)")
  String model;

  @Option(name = "--steps_per_checkpoint", metaVar = "N", usage = "checkpoint (and evaluate) every N steps (5000)")
  long stepsPerCheckpoint = 5000;

  @Option(name = "--gpu_ids", metaVar = "GPU ...", handler = org.kohsuke.args4j.spi.StringArrayOptionHandler.class,
      usage = "local GPUs, GPT-Neo's form: device:GPU:0 device:GPU:1 (spaces or commas; count = mesh size)")
  String[] gpuIds = new String[0]; // not null: args4j prints array defaults in the usage

  @Option(name = "--devices", metaVar = "LIST",
      usage = "explicit TensorFlow devices of this process, comma-separated (default: mesh-size virtual CPUs)")
  String devices;

  @Option(name = "--cluster", metaVar = "H:P,...|local:N",
      usage = "run on the devices of these TensorFlow workers (scripts/cluster worker), or start N workers here")
  String cluster;

  @Option(name = "--cpus_per_task", metaVar = "N", usage = "with --cluster local:N: pin each worker to its own N cores")
  Integer cpusPerTask;

  @Option(name = "--threads", metaVar = "N",
      usage = "TensorFlow intra-op threads of this process: the threads one op splits over (default: the cores on a "
          + "one-device mesh, cores / devices, at least 1, on more virtual CPU devices)")
  Integer threads;

  @Option(name = "--inter_op_threads", metaVar = "N",
      usage = "TensorFlow inter-op threads of this process: ops run at once (default: the cores)")
  Integer interOpThreads;

  @Option(name = "--new", usage = "delete model_path first (asks; --yes answers)")
  boolean fresh;

  @Option(name = "--yes", usage = "answer yes to --new's question")
  boolean yes;

  @Option(name = "--eval", usage = "evaluate the latest checkpoint on eval_steps batches, then exit")
  boolean eval;

  @Option(name = "--predict", usage = "sample from the latest checkpoint, then exit")
  boolean predict;

  @Option(name = "--score", metaVar = "IN.jsonl",
      usage = "log-probs of each line ({\"text\": ...} or {\"ids\": [...]}) by the latest checkpoint to --output")
  String score;

  @Option(name = "--output", metaVar = "OUT.jsonl", usage = "with --score: the lines with ids, logprobs and sum_logprob")
  String output;

  @Option(name = "--step", metaVar = "N", usage = "with --score or --export_hf: checkpoint N instead of the latest")
  Long step;

  @Option(name = "--prompt", metaVar = "TEXT", usage = "with --predict: the prompt (default: GPT-Neo's unicorn prompt)")
  String prompt;

  @Option(name = "--prompt_file", metaVar = "FILE", usage = "with --predict: read the prompt from FILE")
  String promptFile;

  @Option(name = "--max_new_tokens", metaVar = "N", usage = "with --predict: new tokens per sample (default predict_max_steps)")
  Integer maxNewTokens;

  @Option(name = "--temperature", metaVar = "T", usage = "with --predict: sampling temperature, 0 = greedy (default 0.9)")
  Double temperature;

  @Option(name = "--top_k", metaVar = "K", usage = "with --predict: sample from the K most likely tokens (default all)")
  Integer topK;

  @Option(name = "--top_p", metaVar = "P", usage = "with --predict: nucleus sampling, P in (0, 1] (default 1: off)")
  Double topP;

  @Option(name = "--num_samples", metaVar = "N", usage = "with --predict: samples of the prompt (default predict_batch_size)")
  Integer numSamples;

  @Option(name = "--seed", metaVar = "S", usage = "with --predict: the samples' seed (default: a fresh one, printed)")
  Long seed;

  @Option(name = "--stop", metaVar = "TEXT", usage = "with --predict: end a sample at TEXT (repeatable; EOS always ends it)")
  List<String> stops = new ArrayList<>();

  @Option(name = "--interactive", usage = "with --predict: read prompts from standard input, one per line")
  boolean interactive;

  @Option(name = "--init_from", metaVar = "DIR",
      usage = "start from a HuggingFace GPT-Neo folder or GPT-Neo checkpoint folder (with --eval/--predict/--score: use it)")
  String initFrom;

  @Option(name = "--export_hf", metaVar = "DIR",
      usage = "write the latest (or --step) checkpoint as a HuggingFace GPT-Neo folder, then exit")
  String exportHf;

  @Option(name = "--check_dataset", usage = "check the config's datasets, then exit")
  boolean checkDataset;

  @Option(name = "--auto_layout", usage = "choose a layout for mesh_shape, print it, then exit")
  boolean autoLayout;

  @Option(name = "--auto_layout_and_mesh_shape", usage = "choose mesh shape and layout for mesh_shape's device count")
  boolean autoLayoutAndMeshShape;

  @Option(name = "--memory_budget", metaVar = "SIZE",
      usage = "per-device memory budget of the auto layout, e.g. 16GiB, 512MiB, 8e9 (default 16GiB, or --machine's)")
  String memoryBudget;

  @Option(name = "--machine", metaVar = "NAME",
      usage = "with --auto_layout*: plan for a machine's published figures: a100, h100 (8 per server), tpu-v3")
  String machineName;

  @Option(name = "--write_config", metaVar = "OUT.json",
      usage = "with --auto_layout*: write the config with the chosen mesh_shape and layout to OUT.json")
  String writeConfig;

  @Option(name = "--calibrate", usage = "measure this machine's constants for the planner's cost model, store them, exit")
  boolean calibrate;

  @Option(name = "--set", metaVar = "KEY=VALUE", usage = "override any config key (repeatable)")
  List<String> sets = new ArrayList<>();

  @Option(name = "--no_progress", usage = "plain progress lines even on a terminal")
  boolean noProgress;

  @Option(name = "--verbose", usage = "stack traces on errors")
  boolean verbose;

  private final PrintStream out;
  private final PrintStream err;
  private final InputStream in;
  private final Path root;
  /** The JVM that {@code --cluster local:N} starts its workers on (this program's own). */
  private final dev.neomesh.mesh.cluster.WorkerJvm workerJvm;

  Main(PrintStream out, PrintStream err, InputStream in, Path root, dev.neomesh.mesh.cluster.WorkerJvm workerJvm) {
    this.workerJvm = workerJvm;
    this.out = out;
    this.err = err;
    this.in = in;
    this.root = root;
  }

  public static void main(String[] args) {
    String home = System.getenv("NEOMESH_HOME");
    Path root = home != null && !home.isBlank() ? Path.of(home) : Path.of("").toAbsolutePath();
    System.exit(new Main(System.out, System.err, System.in, root, dev.neomesh.mesh.cluster.WorkerJvm.current()).run(args));
  }

  /** Runs the command line; returns the exit status. */
  public int run(String[] args) {
    CmdLineParser parser = new CmdLineParser(this);
    try {
      parser.parseArgument(args);
    } catch (CmdLineException e) {
      err.println("neomesh: " + e.getMessage());
      err.println("usage: scripts/neomesh --model NAME|PATH [options]");
      parser.printUsage(err);
      return 2;
    }
    try {
      if (calibrate) {
        return calibrate();
      }
      if (model == null) {
        throw new NeomeshException("--model is required: a name under configs/ (e.g. --model default) or a .json path");
      }
      return execute();
    } catch (NeomeshException | DataException e) {
      err.println("neomesh: " + e.getMessage());
      if (verbose) {
        e.printStackTrace(err);
      }
      return 1;
    }
  }

  /** {@code --model}: a path ending in .json, or {@code configs/<name>.json} under the repository root. */
  Path configPath() {
    Path p = model.endsWith(".json") ? (Files.isRegularFile(Path.of(model)) ? Path.of(model) : root.resolve(model))
        : root.resolve("configs").resolve(model + ".json");
    if (!Files.isRegularFile(p)) {
      List<String> known = new ArrayList<>();
      try (Stream<Path> s = Files.list(root.resolve("configs"))) {
        s.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".json")).sorted()
            .forEach(f -> known.add(f.substring(0, f.length() - 5)));
      } catch (IOException e) {
        // no configs folder: nothing to suggest
      }
      throw new NeomeshException("no model config " + p + (known.isEmpty() ? "" : " (configs/ has: "
          + String.join(", ", known) + ")") + "; pass --model NAME for configs/NAME.json, or a path to a .json file");
    }
    return p;
  }

  GptConfig config() {
    GptConfig cfg = GptConfig.load(configPath());
    Map<String, String> overrides = new LinkedHashMap<>();
    for (String kv : sets) {
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw new NeomeshException("--set " + kv + ": expected KEY=VALUE, e.g. --set train_steps=100");
      }
      overrides.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
    }
    return overrides.isEmpty() ? cfg : cfg.withOverrides(overrides);
  }

  RunDevices.Flags deviceFlags() {
    return new RunDevices.Flags(cluster, cpusPerTask, Arrays.asList(gpuIds), devices, threads, interOpThreads);
  }

  TrainSettings settings(GptConfig cfg, dev.neomesh.mesh.lower.Devices meshDevices) {
    List<DatasetEntry> entries = cfg.datasets().stream().map(l -> DatasetEntry.parse(l.size() == 1 ? l.get(0) : l))
        .toList();
    if (entries.isEmpty()) {
      throw new NeomeshException(cfg.source() + ": \"datasets\" is empty; name at least one dataset config, e.g. "
          + "[[\"repo_text_char\", 1, \"documents_random\", 1.0]]");
    }
    Path modelPath = root.resolve(cfg.modelPath());
    OptimizerSettings opt = optimizer(cfg);
    LearningRateSchedule schedule = new LearningRateSchedule(cfg.lr(), cfg.lrDecay(), cfg.lrDecayEnd(),
        cfg.warmupSteps());
    return new TrainSettings(modelPath, root, root.resolve("configs/dataset_configs"), entries, cfg.mesh(),
        cfg.layoutRules(), meshDevices, cfg.nCtx(), cfg.nVocab(), cfg.trainBatchSize(), cfg.evalBatchSize(),
        cfg.predictBatchSize(), cfg.trainSteps(), cfg.evalSteps(), cfg.seed(), Math.max(1, cfg.iterations()),
        Math.max(1, stepsPerCheckpoint), schedule, opt,
        GptConfig.orNull(cfg.tokensPerMbPerReplica()), GptConfig.orNull(cfg.predictMaxSteps()), !noProgress);
  }

  /** The optimizer keys of a config (Adam's update as the fused kernel, the default). */
  public static OptimizerSettings optimizer(GptConfig cfg) {
    return new OptimizerSettings(cfg.optName(), cfg.beta1(), cfg.beta2(), cfg.epsilon(), cfg.weightDecay(),
        cfg.biasCorrection(), cfg.adaEpsilon1(), cfg.adaEpsilon2(), cfg.gradientClipping(), true, cfg.zeroStage());
  }

  int execute() {
    checkScoreFlags();
    GptConfig cfg = config();
    cfg.ignoredKeysWarning().ifPresent(w -> err.println("neomesh: warning: " + w));
    List<String> sampling = samplingFlagsGiven();
    boolean trains = !eval && score == null && exportHf == null && !checkDataset && !autoLayout && !autoLayoutAndMeshShape;
    if (!sampling.isEmpty() && !predict && !(trains && cfg.predictSteps() > 0)) {
      throw new NeomeshException(String.join(", ", sampling) + (sampling.size() == 1 ? " is" : " are")
          + " only used with --predict (or by the samples after training when predict_steps > 0): add --predict, "
          + "or drop " + (sampling.size() == 1 ? "it" : "them"));
    }
    if (autoLayout || autoLayoutAndMeshShape) {
      return plan(cfg); // planning needs the model, not its data
    }
    RunDevices.Flags where = deviceFlags();
    TrainSettings s = settings(cfg, null);
    List<InputPipeline.Source> sources = InputPipeline.sources(s.datasetConfigs(), s.datasets());
    for (InputPipeline.Source src : sources) {
      if (src.config().nVocab() > cfg.nVocab()) {
        throw new NeomeshException("dataset " + src.config().id() + " has n_vocab " + src.config().nVocab()
            + " but the model's n_vocab is " + cfg.nVocab() + ": raise n_vocab (e.g. --set n_vocab="
            + src.config().nVocab() + ")");
      }
    }
    if ((checkDataset || exportHf != null) && !where.virtual()) {
      throw new NeomeshException((checkDataset ? "--check_dataset" : "--export_hf") + " runs no mesh: drop --cluster, "
          + "--gpu_ids and --devices");
    }
    if (checkDataset) {
      List<DatasetConfig> configs = sources.stream().map(InputPipeline.Source::config).toList();
      return CheckDataset.run(configs, cfg.nVocab(), root, out).ok() ? 0 : 1;
    }
    if (exportHf != null) {
      return exportHf(cfg, new Trainer(s, new GptLanguageModel(cfg), out).checkpoint(step, "export"),
          sources.get(0).config());
    }
    try (InitialWeights initial = initFrom == null ? null : WeightImports.open(resolve(initFrom), cfg);
        RunDevices placed = RunDevices.open(where, cfg.mesh(), workerJvm, out)) {
      s = settings(cfg, placed.devices());
      Trainer trainer = new Trainer(s, new GptLanguageModel(cfg), out, initial);
      if (score != null) {
        trainer.checkInitialWeights();
        if (cfg.mlmTraining()) {
          throw new NeomeshException("--score gives next-token log-probs of a causal model, but this config trains a "
              + "masked LM (mlm_training): score a config without mlm_training");
        }
        ScoreCommand.run(new Scorer(trainer), Path.of(score), Path.of(output), step,
            () -> sources.get(0).config().tokenizer(root), cfg.nVocab(), out);
        return 0;
      }
      return run(cfg, s, sources, trainer);
    }
  }

  private int run(GptConfig cfg, TrainSettings s, List<InputPipeline.Source> sources, Trainer trainer) {
    boolean train = !eval && !predict;
    // everything a run needs is checked before it starts, not when training is done: the prompt,
    // tokenizer and flags of the samples after training, and (before --new deletes anything) the
    // trainer's checks
    Prompt samplePrompt = predict || train && cfg.predictSteps() > 0 ? prompt(sources.get(0).config(), cfg) : null;
    if (train) {
      trainer.check(); // includes the initial weights' check
    } else {
      trainer.checkInitialWeights();
    }
    if (eval) {
      if (fresh && !removeModelPath(s.modelPath())) {
        return 0;
      }
      out.println(Trainer.describe(trainer.evaluate()));
      return 0;
    }
    // one writing command per model_path: a second training or sampling run is refused, not interleaved
    try (RunLock lock = RunLock.acquire(s.modelPath(), train ? "training" : "sampling")) {
      if (fresh && !removeModelPath(s.modelPath())) {
        return 0;
      }
      if (predict) {
        sample(trainer, cfg, s, samplePrompt);
        return 0;
      }
      trainer.train();
      if (samplePrompt != null) {
        sample(trainer, cfg, s, samplePrompt);
      }
      return 0;
    }
  }

  private Path resolve(String path) {
    Path p = Path.of(path);
    return p.isAbsolute() || Files.exists(p) ? p : root.resolve(path);
  }

  /** {@code --export_hf DIR}: checkpoint {@code c} (model_path's latest, or {@code --step}'s) as a HuggingFace folder. */
  private int exportHf(GptConfig cfg, Checkpoints.Checkpoint c, DatasetConfig dataset) {
    Path dir = resolve(exportHf);
    HfExport.Result r = HfExport.write(cfg, c, dir, dataset.tokenizer(root));
    out.printf(java.util.Locale.ROOT, "exported checkpoint step %d of %s to %s: %d tensors, %.1f MB (load it with "
        + "transformers.GPTNeoForCausalLM.from_pretrained(\"%s\"))%n", c.step(), c.prefix().getParent(), r.dir(), r.tensors(),
        r.bytes() / 1e6, r.dir());
    return 0;
  }

  /** --score's flags go together, and with no other action. */
  private void checkScoreFlags() {
    if (score == null) {
      if (output != null) {
        throw new NeomeshException("--output is only used with --score IN.jsonl: add --score, or drop --output");
      }
      if (step != null && exportHf == null) {
        throw new NeomeshException("--step is only used with --score IN.jsonl or --export_hf DIR: add one, or drop "
            + "--step");
      }
      return;
    }
    if (output == null) {
      throw new NeomeshException("--score needs --output OUT.jsonl, the file the scored lines are written to");
    }
    Map<String, Boolean> others = new LinkedHashMap<>();
    others.put("--eval", eval);
    others.put("--predict", predict);
    others.put("--new", fresh); // it would delete the checkpoints to score
    others.put("--check_dataset", checkDataset);
    others.put("--auto_layout", autoLayout);
    others.put("--auto_layout_and_mesh_shape", autoLayoutAndMeshShape);
    for (Map.Entry<String, Boolean> other : others.entrySet()) {
      if (other.getValue()) {
        throw new NeomeshException("--score cannot be combined with " + other.getKey() + ": run them one at a time");
      }
    }
  }

  /**
   * What sampling needs: the checked flags, the prompt's checked ids (null under --interactive) and
   * the first dataset's tokenizer and ids.
   */
  private record Prompt(GenerateCommand.Options options, int[] ids, GenerateCommand.Vocabulary vocabulary) {}

  /**
   * The prompt ({@code --prompt}, {@code --prompt_file}, or GPT-Neo's unicorn prompt), the sampling
   * flags and {@code dataset}'s tokenizer, all checked: a clear error for each mistake.
   */
  private Prompt prompt(DatasetConfig dataset, GptConfig cfg) {
    if (prompt != null && promptFile != null) {
      throw new NeomeshException("give either --prompt TEXT or --prompt_file FILE, not both");
    }
    if (interactive && (prompt != null || promptFile != null)) {
      throw new NeomeshException("--interactive reads its prompts from standard input: drop --prompt/--prompt_file");
    }
    if (interactive && !predict) {
      throw new NeomeshException("--interactive is used with --predict: add --predict");
    }
    String text = prompt != null ? prompt : UNICORNS;
    if (promptFile != null) {
      try {
        text = Files.readString(resolve(promptFile), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new NeomeshException("cannot read --prompt_file " + promptFile + ": " + e.getMessage()
            + "; pass a readable UTF-8 text file, or the text itself with --prompt TEXT");
      }
    }
    if (prompt != null && !prompt.isEmpty() && Files.isRegularFile(resolve(prompt))) {
      err.println("neomesh: note: --prompt is the prompt's text; \"" + prompt + "\" is also a file: pass "
          + "--prompt_file " + prompt + " to read it");
    }
    Tokenizer tokenizer = dataset.tokenizer(root);
    GenerateCommand.Vocabulary v = new GenerateCommand.Vocabulary(tokenizer, dataset.eosId(), cfg.nVocab());
    GenerateCommand.Options o = GenerateCommand.options(text, temperature, topK, topP, maxNewTokens, numSamples, seed,
        stops, interactive, cfg.predictMaxSteps().orElse(cfg.nCtx()),
        cfg.predictBatchSize(), cfg.nVocab());
    return new Prompt(o, interactive ? null : GenerateCommand.promptIds(text, v), v);
  }

  /** The flags that only --predict (or the samples after training) reads, when given. */
  private List<String> samplingFlagsGiven() {
    List<String> given = new ArrayList<>();
    Object[][] flags = {{"--prompt", prompt}, {"--prompt_file", promptFile}, {"--max_new_tokens", maxNewTokens},
        {"--temperature", temperature}, {"--top_k", topK}, {"--top_p", topP}, {"--num_samples", numSamples},
        {"--seed", seed}, {"--stop", stops.isEmpty() ? null : stops}, {"--interactive", interactive ? true : null}};
    for (Object[] f : flags) {
      if (f[1] != null) {
        given.add((String) f[0]);
      }
    }
    return given;
  }

  private void sample(Trainer trainer, GptConfig cfg, TrainSettings s, Prompt p) {
    GenerateCommand.run(trainer, new GptLanguageModel(cfg), p.options(), p.ids(), p.vocabulary(), s.modelPath(), in,
        out);
  }

  private int plan(GptConfig cfg) {
    MeshShape mesh = cfg.mesh();
    dev.neomesh.layout.MachinePresets preset = machineName == null ? null
        : dev.neomesh.layout.MachinePresets.named(machineName);
    if (preset != null && cluster != null) {
      throw new NeomeshException("--machine plans for another machine's published figures and --cluster for this "
          + "cluster's workers: give one of them");
    }
    long budget = AutoLayout.parseBytes(memoryBudget != null ? memoryBudget
        : preset != null ? preset.memoryBytes() + "B" : "16GiB");
    dev.neomesh.layout.MachineConstants machine = preset != null ? preset.constants()
        : dev.neomesh.layout.Calibration.load(AutoLayout.calibrationFile());
    int devicesPerTask = preset != null ? preset.devicesPerTask(mesh.size()) : clusterDevicesPerTask(mesh);
    if (preset != null) {
      out.printf(java.util.Locale.ROOT, "planning for %s: %.3g TFLOP/s per device, %s memory per device%s%n",
          preset.description(), machine.matmulFlopsPerSecond() / 1e12,
          dev.neomesh.layout.PlanReport.bytes(preset.memoryBytes()), devicesPerTask > 0
              ? ", " + mesh.size() / devicesPerTask + " servers (collectives across them at the network's rate)" : "");
    }
    if (devicesPerTask > 0 && preset == null) {
      out.printf(java.util.Locale.ROOT, "planning for a cluster of %d tasks x %d devices: a collective across tasks "
          + "costs %.3g B/s and %.0f us per transfer (%s)%n", mesh.size() / devicesPerTask, devicesPerTask,
          machine.crossTaskBytesPerSecond(), machine.crossTaskTransferSeconds() * 1e6,
          Files.exists(AutoLayout.calibrationFile()) ? "calibrated; --calibrate --cluster measures them again"
          : "defaults: measure them with --calibrate --cluster");
    }
    AutoLayout.Result r = AutoLayout.plan(cfg, mesh, autoLayoutAndMeshShape, budget, machine, devicesPerTask);
    if (autoLayoutAndMeshShape) {
      out.println("Num cores:\n" + mesh.size());
    }
    out.print(r.report());
    out.println("Re-initialize graph with selected layout");
    if (writeConfig != null) {
      Path target = Path.of(writeConfig);
      AutoLayout.writeConfig(cfg, r, target);
      out.println("wrote " + target + " (mesh_shape " + r.meshShape() + ", layout " + r.layout() + ")");
    } else {
      out.println("(use it with --set layout=\"" + r.layout() + "\"" + (autoLayoutAndMeshShape
          ? " --set mesh_shape=" + r.meshShape() : "") + ", or write a config with --write_config OUT.json)");
    }
    return 0;
  }

  /**
   * With --cluster (planning): the devices per task of the mesh spread over the cluster's tasks; 0
   * without. An address list is asked for its devices, whose count must be the mesh's.
   */
  private int clusterDevicesPerTask(MeshShape mesh) {
    RunDevices.Flags where = deviceFlags();
    if (where.cluster() == null) {
      return 0;
    }
    int local = dev.neomesh.mesh.cluster.LocalCluster.localTasks(where.cluster());
    int tasks = local > 0 ? local : dev.neomesh.mesh.cluster.ClusterSpec.parse(where.cluster()).tasks();
    if (local < 0) {
      int devices = dev.neomesh.mesh.cluster.ClusterDevices.connect(
          dev.neomesh.mesh.cluster.ClusterSpec.parse(where.cluster())).size();
      if (devices != mesh.size()) {
        throw new NeomeshException("mesh_shape \"" + mesh + "\" has " + mesh.size() + " devices but the cluster "
            + where.cluster() + " has " + devices + ": plan for --set mesh_shape=x:" + devices + " (with "
            + "--auto_layout_and_mesh_shape to choose its shape), or run " + mesh.size() + " devices in the cluster");
      }
    }
    if (mesh.size() % tasks != 0) {
      throw new NeomeshException("mesh_shape \"" + mesh + "\" has " + mesh.size() + " devices, which do not split evenly "
          + "over the cluster's " + tasks + " tasks: use a mesh of a multiple of " + tasks + " devices");
    }
    return mesh.size() / tasks;
  }

  private int calibrate() {
    Path path = AutoLayout.calibrationFile();
    out.println("measuring matmul, elementwise, transfer and collective costs on virtual CPU devices ...");
    dev.neomesh.layout.MachineConstants m = dev.neomesh.layout.Calibration.measure();
    RunDevices.Flags where = deviceFlags();
    if (where.cluster() != null) {
      int local = dev.neomesh.mesh.cluster.LocalCluster.localTasks(where.cluster());
      out.println("measuring a transfer between the devices of task 0 and task 1 of " + where.cluster() + " ...");
      if (local > 0) {
        try (dev.neomesh.mesh.cluster.LocalCluster c = dev.neomesh.mesh.cluster.LocalCluster.start(workerJvm,
            Math.max(2, local), 1,
            0)) {
          m = dev.neomesh.layout.Calibration.measureCrossTask(dev.neomesh.mesh.cluster.ClusterDevices.connect(c.spec()),
              1, m);
        }
      } else {
        dev.neomesh.mesh.cluster.ClusterSpec spec = dev.neomesh.mesh.cluster.ClusterSpec.parse(where.cluster());
        if (spec.tasks() < 2) {
          throw new NeomeshException("--calibrate --cluster measures a transfer between two tasks: give at least two "
              + "addresses");
        }
        dev.neomesh.mesh.lower.Devices d = dev.neomesh.mesh.cluster.ClusterDevices.connect(spec);
        m = dev.neomesh.layout.Calibration.measureCrossTask(d, d.size() / spec.tasks(), m);
      }
      out.printf(java.util.Locale.ROOT, "cross-task: %.3g B/s, %.0f us per transfer%n", m.crossTaskBytesPerSecond(),
          m.crossTaskTransferSeconds() * 1e6);
    } else if (!deviceFlags().virtual()) {
      throw new NeomeshException("--calibrate measures virtual CPU devices, and a cluster's link with --cluster: drop "
          + "--devices/--gpu_ids");
    }
    try {
      dev.neomesh.layout.Calibration.save(m, path);
    } catch (IOException e) {
      throw new NeomeshException("cannot store the calibration at " + path + ": " + e.getMessage()
          + "; set NEOMESH_CALIBRATION to a writable file");
    }
    out.println("stored " + path + " (NEOMESH_CALIBRATION overrides the path); the planner reads it from now on");
    return 0;
  }

  /** --new: asks (unless --yes), then deletes model_path; false when the answer is no. */
  private boolean removeModelPath(Path modelPath) {
    try (Stream<Path> files = Files.list(modelPath)) {
      if (files.allMatch(f -> f.getFileName().toString().equals(RunLock.FILE))) {
        return true; // nothing but this run's lock
      }
    } catch (IOException e) {
      return true; // no folder: nothing to remove
    }
    if (!yes) {
      out.print("Are you sure you want to remove '" + modelPath + "' to start afresh? (y/n) ");
      out.flush();
      String answer;
      try {
        answer = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).readLine();
      } catch (IOException e) {
        answer = null;
      }
      if (answer == null || !answer.trim().equalsIgnoreCase("y")) {
        out.println("not removing " + modelPath + "; exiting");
        return false;
      }
    }
    Path lock = modelPath.resolve(RunLock.FILE); // held by this run: deleting it would let a second run in
    try (Stream<Path> walk = Files.walk(modelPath)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        if (!p.equals(lock) && !p.equals(modelPath)) {
          Files.delete(p);
        }
      }
    } catch (IOException e) {
      throw new NeomeshException("cannot remove " + modelPath + ": " + e + "; remove it by hand", e);
    }
    out.println("removed " + modelPath);
    return true;
  }
}
