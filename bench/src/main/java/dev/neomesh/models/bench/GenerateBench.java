package dev.neomesh.models.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.bench.BenchFlags;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.gpt.Gpt;
import dev.neomesh.models.train.Generative;
import dev.neomesh.models.cli.Main;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.interop.WeightImports;
import dev.neomesh.models.train.Generator;
import dev.neomesh.models.train.InitialWeights;
import dev.neomesh.models.train.LearningRateSchedule;
import dev.neomesh.models.train.Sampling;
import dev.neomesh.models.train.TrainSettings;
import dev.neomesh.models.train.Trainer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.kohsuke.args4j.Option;
import org.tensorflow.Tensor;

/**
 * Generation speed against HuggingFace: {@code scripts/bench generate [--hf_dir DIR] [--batches 1,8]
 * [--prompt_len 128] [--new_tokens 128] [--late 1900] [--mesh_shape x:1 --layout L] [--no_hf]}.
 *
 * <p>A GPT-Neo-125M-shaped model (12 layers, n_embd 768, 12 heads, vocabulary 50257, n_ctx 2048,
 * global and local layers alternating, window 256) with random weights, made by HuggingFace
 * ({@code tests/python/hf_generate.py make}) and imported into neomesh ({@code --init_from}'s path),
 * so both run the same weights. For each batch size, neomesh then HuggingFace's {@code generate}
 * (PyTorch, CPU) decode the same seeded random prompts greedily, alternating so that the host's speed
 * drift falls on both: time to first token, tokens/s, and whether the ids agree. Then the cost of a
 * token late in the context: a prompt of {@code --late} tokens, tokens/s over the new ones after the
 * first, against the same at position {@code --prompt_len}. Prints the key/value cache's bytes per
 * sequence with the all-global formula 2 · layers · n_ctx · n_embd · 4 beside it.
 */
public final class GenerateBench {
  private GenerateBench() {}

  static final class Flags extends BenchFlags {
    @Option(name = "--hf_dir", metaVar = "DIR", usage = "the HuggingFace model folder (made there if it has no config.json)")
    String hfDir = "runs/bench_generate_125m";

    @Option(name = "--batches", metaVar = "LIST", usage = "batch sizes, comma-separated")
    String batches = "1,8";

    @Option(name = "--prompt_len", metaVar = "N", usage = "prompt tokens")
    int promptLen = 128;

    @Option(name = "--new_tokens", metaVar = "N", usage = "new tokens per row")
    int newTokens = 128;

    @Option(name = "--late", metaVar = "N", usage = "prompt length of the late-position cost (0: skip)")
    int late = 1900;

    @Option(name = "--mesh_shape", metaVar = "S", usage = "neomesh's mesh")
    String meshShape = "x:1";

    @Option(name = "--layout", metaVar = "L", usage = "neomesh's layout")
    String layout = "";

    @Option(name = "--threads", metaVar = "N", usage = "PyTorch's threads (neomesh uses TensorFlow's default: every core)")
    int threads = 2;

    @Option(name = "--no_hf", usage = "neomesh only")
    boolean noHf;

    @Option(name = "--layers", metaVar = "N", usage = "model layers (12: GPT-Neo 125M)")
    int layers = 12;

    @Option(name = "--n_embd", metaVar = "N", usage = "model width")
    int nEmbd = 768;

    @Option(name = "--profile", metaVar = "B", usage = "only profile one traced step at batch B (random init, no HF)")
    int profile;
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    Flags f = BenchFlags.parseOrExit("scripts/bench generate", new Flags(), args);
    Path dir = Path.of(f.hfDir).toAbsolutePath();
    int heads = f.nEmbd / 64;
    if (f.profile == 0 && !Files.exists(dir.resolve("config.json"))) {
      System.out.println("making a random " + f.layers + "-layer model with HuggingFace in " + dir + " ...");
      python(f, "make", dir.toString(), "--layers", "" + f.layers, "--n_embd", "" + f.nEmbd, "--n_head", "" + heads);
    }
    GptConfig cfg = GptConfig.fromJson(String.format(Locale.ROOT, """
        {"n_head": %d, "n_embd": %d, "n_layer": %d, "n_ctx": 2048, "n_vocab": 50257,
         "attention_types": [[["global", "local"], %d]], "local_attention_radius": 256,
         "activation_function": "gelu", "mesh_shape": "%s", "layout": "%s",
         "datasets": [["none", 1, "documents_random", 1.0]], "model_path": "runs/bench_generate",
         "embed_dropout": 0, "attn_dropout": 0, "res_dropout": 0}
        """, heads, f.nEmbd, f.layers, f.layers / 2, f.meshShape, f.layout));
    if (f.profile > 0) {
      profile(cfg, f.profile, f.promptLen);
      return;
    }
    List<Integer> batches = Arrays.stream(f.batches.split(",")).map(String::trim).map(Integer::parseInt).toList();
    System.out.printf(Locale.ROOT, "model: %d layers, n_embd %d, %d heads, vocab 50257, n_ctx 2048, global/local "
        + "(window 256), random weights from %s; mesh %s layout \"%s\"; greedy%n", f.layers, f.nEmbd, heads, dir,
        f.meshShape, f.layout);
    try (InitialWeights weights = WeightImports.open(dir, cfg)) {
      for (int batch : batches) {
        List<int[]> prompts = prompts(batch, f.promptLen, 7 + batch);
        Measured neo = neomesh(cfg, weights, prompts, f.newTokens, dir);
        System.out.printf(Locale.ROOT, "neomesh      batch %d: first token %.3f s, %.1f tokens/s (%d new tokens per "
            + "row in %.2f s); cache %s per sequence (all-global formula: %s)%n", batch, neo.first, neo.tokensPerSec(),
            f.newTokens, neo.total, mib(neo.cacheBytes), mib(2L * f.layers * 2048 * f.nEmbd * 4));
        if (!f.noHf) {
          Measured hf = huggingFace(f, dir, prompts, f.newTokens);
          System.out.printf(Locale.ROOT, "HuggingFace  batch %d: first token %.3f s, %.1f tokens/s (%d new tokens per "
              + "row in %.2f s); neomesh/HF %.2fx; greedy ids %s%n", batch, hf.first, hf.tokensPerSec(), f.newTokens,
              hf.total, neo.tokensPerSec() / hf.tokensPerSec(), agreement(neo.ids, hf.ids));
        }
      }
      if (f.late > 0) {
        for (int start : new int[] {f.promptLen, f.late}) {
          List<int[]> prompt = prompts(1, start, 99);
          Measured neo = neomesh(cfg, weights, prompt, f.newTokens, dir);
          String line = String.format(Locale.ROOT, "cost per token at positions %d-%d, batch 1: neomesh %.1f tokens/s",
              start, start + f.newTokens, neo.decodeTokensPerSec());
          if (!f.noHf) {
            Measured hf = huggingFace(f, dir, prompt, f.newTokens);
            line += String.format(Locale.ROOT, ", HuggingFace %.1f tokens/s", hf.decodeTokensPerSec());
          }
          System.out.println(line);
        }
      }
    }
  }

  /** One side's run: the new ids of each row, seconds to the first token and to the end, cache bytes. */
  record Measured(List<int[]> ids, double first, double total, int batch, int newTokens, long cacheBytes) {
    double tokensPerSec() {
      return batch * newTokens / total;
    }

    /** New tokens per second after the first: the steady cost per token. */
    double decodeTokensPerSec() {
      return batch * (newTokens - 1) / (total - first);
    }
  }

  static List<int[]> prompts(int batch, int length, long seed) {
    Random r = new Random(seed);
    List<int[]> out = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      out.add(r.ints(length, 0, 50256).toArray());
    }
    return out;
  }

  /** neomesh: compile, load the weights, one untimed warm-up call, then the timed one. */
  static Measured neomesh(GptConfig cfg, InitialWeights weights, List<int[]> prompts, int newTokens, Path dir) {
    TrainSettings s = new TrainSettings(dir.resolveSibling("bench_generate_run"), dir, dir, List.of(),
        cfg.mesh(), cfg.layoutRules(), null, cfg.nCtx(), cfg.nVocab(), 1, 1,
        prompts.size(), 0, 0, 1, 1, 1, new LearningRateSchedule(0, cfg.lrDecay(), 0, 0), Main.optimizer(cfg), null,
        null, false);
    Trainer trainer = new Trainer(s, new GptLanguageModel(cfg), new PrintStream(new ByteArrayOutputStream()), weights);
    long t0 = System.nanoTime();
    try (Generator g = Generator.open(trainer, new GptLanguageModel(cfg), prompts.size(), Sampling.GREEDY, null)) {
      System.out.printf(Locale.ROOT, "neomesh      batch %d: compiled and loaded the weights in %.1f s%n", prompts.size(),
          (System.nanoTime() - t0) / 1e9);
      g.generate(prompts, 2, -1, 0, null);
      Generator.Output o = g.generate(prompts, newTokens, -1, 0, null);
      return new Measured(o.ids(), o.firstTokenSeconds(), o.seconds(), prompts.size(), newTokens, g.cacheBytesPerRow());
    }
  }

  /** One traced one-token step after a prefill of {@code promptLen} tokens, on the initial weights. */
  static void profile(GptConfig cfg, int batch, int promptLen) {
    long t0 = System.nanoTime();
    MeshGraph g = new MeshGraph(1);
    Generative.Decoder d = Gpt.decoder(new MeshOps(g), cfg, batch, Generator.defaultChunk(cfg.nCtx()), Sampling.GREEDY,
        Generator.spans(cfg.nCtx(), cfg.layoutRules()));
    long t1 = System.nanoTime();
    MeshRuntime rt = MeshRuntime.onVirtualCpus(g, cfg.mesh(), cfg.layoutRules());
    long t2 = System.nanoTime();
    rt.initialize();
    long t3 = System.nanoTime();
    try (Generator gen = Generator.on(rt, d, 0)) {
      List<int[]> prompts = prompts(batch, promptLen, 1);
      gen.generate(prompts, 2, -1, 0, null);
      long t4 = System.nanoTime();
      System.out.printf(Locale.ROOT, "mesh program %.1f s (%d ops), lowering %.1f s (%d TensorFlow ops), random init %.1f s, "
          + "first prefill and step %.1f s%n", (t1 - t0) / 1e9, g.ops().size(), (t2 - t1) / 1e9,
          StepProfile.countOps(rt, false), (t3 - t2) / 1e9, (t4 - t3) / 1e9);
      int[] pad = new int[batch];
      int[] tokens = new int[batch];
      for (int i = 0; i < 4; i++) {
        Generative.Program program = d.step(promptLen + i);
        try (Tensor x = HostTensors.ofInts(program.tokens().shape(), tokens);
            Tensor s = HostTensors.ofInts(d.start().shape(), new int[] {promptLen + i});
            Tensor p = HostTensors.ofInts(d.pad().shape(), pad)) {
          long began = System.nanoTime();
          MeshRuntime.Step step = rt.step().feed(program.tokens(), x).feed(d.start(), s).feed(d.pad(), p)
              .fetch(program.next());
          (i == 3 ? step.traced() : step).run();
          System.out.printf(Locale.ROOT, "step at slot %d: %.1f ms%s%n", promptLen + i, (System.nanoTime() - began) / 1e6,
              i == 3 ? " (traced)" : "");
        }
      }
      StepProfile.print(rt.lastRunMetadata(), 15);
    }
  }

  static Measured huggingFace(Flags f, Path dir, List<int[]> prompts, int newTokens) throws IOException {
    Path file = Files.createTempFile("neomesh-prompts", ".json");
    try {
      Files.writeString(file, JSON.writeValueAsString(java.util.Map.of("batches", List.of(prompts))));
      JsonNode r = JSON.readTree(python(f, "generate", dir.toString(), "--prompts", file.toString(), "--new_tokens",
          "" + newTokens, "--threads", "" + f.threads)).get("results").get(0);
      List<int[]> ids = new ArrayList<>();
      for (JsonNode row : r.get("ids")) {
        int[] a = new int[row.size()];
        for (int i = 0; i < a.length; i++) {
          a[i] = row.get(i).asInt();
        }
        ids.add(a);
      }
      return new Measured(ids, r.get("first_token_s").asDouble(), r.get("total_s").asDouble(), prompts.size(),
          newTokens, 0);
    } finally {
      Files.deleteIfExists(file);
    }
  }

  /** "equal", or how many leading ids of each row agree. */
  static String agreement(List<int[]> a, List<int[]> b) {
    if (a.size() == b.size() && java.util.stream.IntStream.range(0, a.size()).allMatch(i -> Arrays.equals(a.get(i), b.get(i)))) {
      return "equal";
    }
    StringBuilder sb = new StringBuilder("differ: leading ids equal per row");
    for (int r = 0; r < Math.min(a.size(), b.size()); r++) {
      int n = 0;
      while (n < Math.min(a.get(r).length, b.get(r).length) && a.get(r)[n] == b.get(r)[n]) {
        n++;
      }
      sb.append(' ').append(n);
    }
    return sb.toString();
  }

  /** Runs {@code tests/python/hf_generate.py} with $NEOMESH_PYTHON (else .venv/bin/python); its stdout. */
  static String python(Flags f, String... args) throws IOException {
    String env = System.getenv("NEOMESH_PYTHON");
    String py = env != null && !env.isBlank() ? env : Path.of(".venv/bin/python").toAbsolutePath().toString();
    if (!Files.isExecutable(Path.of(py))) {
      throw new IllegalStateException("no Python at " + py + ": run .ci/run (it makes .venv), set NEOMESH_PYTHON, or "
          + "pass --no_hf with --hf_dir of an existing model");
    }
    List<String> cmd = new ArrayList<>(List.of(py, "tests/python/hf_generate.py"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
        throw new IllegalStateException("hf_generate.py " + args[0] + " failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    return out;
  }

  static String mib(long bytes) {
    return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
  }
}
