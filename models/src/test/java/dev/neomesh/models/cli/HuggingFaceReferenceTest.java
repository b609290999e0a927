package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.data.CreateTfRecords;
import dev.neomesh.data.DatasetEntry;
import dev.neomesh.data.InputPipeline;
import dev.neomesh.data.tokenizer.CharTokenizer;
import dev.neomesh.mesh.testing.PythonReference;
import dev.neomesh.models.interop.Safetensors;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * neomesh against HuggingFace's {@code GPTNeoForCausalLM} (tests/python/hf_gptneo.py), through the
 * command line a user runs: a HuggingFace model imported with {@code --init_from} scores the same
 * log-probs on one device and on a split layout; a model neomesh trained, exported with
 * {@code --export_hf}, loads in HuggingFace with no missing or unexpected keys and scores the same;
 * one Adam step from the same weights gives PyTorch's loss and weights. Skips without the Python
 * environment (fails under NEOMESH_REQUIRE_PYTHON, as in CI).
 */
class HuggingFaceReferenceTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration PY = Duration.ofMinutes(3);

  @TempDir
  static Path root;

  /** A character dataset (ids < 256) and a GPT-Neo config of HuggingFace's shape: 2 layers, global and local. */
  @BeforeAll
  static void makeRoot() throws IOException {
    StringBuilder text = new StringBuilder();
    Random r = new Random(3);
    String words = "the quick brown fox jumps over a lazy dog while thirty seven owls watch";
    String[] w = words.split(" ");
    for (int i = 0; i < 2000; i++) {
      text.append(w[r.nextInt(w.length)]).append(i % 11 == 0 ? ". " : " ");
    }
    Path in = root.resolve("in.txt");
    Files.writeString(in, text.toString());
    CharTokenizer chars = new CharTokenizer();
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
    for (String part : new String[] {"train", "val"}) {
      CreateTfRecords.run(new CreateTfRecords.Options(in.toString(), part, root.resolve("runs/data/" + part), 1000,
          chars, 1, chars.eosId(), 256, 1, false), quiet);
    }
    Files.createDirectories(root.resolve("configs/dataset_configs"));
    Files.writeString(root.resolve("configs/dataset_configs/chars.json"), "{\"n_vocab\": 256, \"path\": "
        + "\"runs/data/train/*.tfrecords\", \"eval_path\": \"runs/data/val/*.tfrecords\", \"tokenizer_path\": \"char\"}");
    Files.writeString(root.resolve("configs/hf.json"), """
        {"n_head": 4, "n_embd": 32, "n_layer": 2, "n_ctx": 16, "n_vocab": 256,
         "attention_types": [[["global", "local"], 1]], "local_attention_radius": 4,
         "datasets": [["chars", 1, "documents_random", 1.0]], "model_path": "runs/hf", "mesh_shape": "x:1",
         "layout": "", "train_batch_size": 4, "eval_batch_size": 4, "train_steps": 50, "eval_steps": 0,
         "predict_steps": 0, "iterations": 1, "lr": 0.003, "lr_decay": "constant", "warmup_steps": 0,
         "opt_name": "adam", "bias_correction": true, "weight_decay": 0.0, "gradient_clipping": 0.0,
         "embed_dropout": 0.0, "attn_dropout": 0.0, "res_dropout": 0.0, "seed": 1234,
         "z_loss": 0.0, "beta1": 0.9, "beta2": 0.95}
        """);
  }

  record Run(int status, String out, String err) {}

  /** Runs the command line in {@code root}; fails unless it exits with {@code status}. */
  static Run run(int status, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit = new Main(new PrintStream(out, true), new PrintStream(err, true),
        new ByteArrayInputStream(new byte[0]), root, MainTest.WORKER_JVM).run(args);
    Run r = new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    assertEquals(status, r.status(), String.join(" ", args) + "\n" + r.out() + r.err());
    return r;
  }

  static Run main(String... args) {
    return run(0, args);
  }

  static Run fails(String... args) {
    return run(1, args);
  }

  /** A seeded random HuggingFace GPT-Neo of the hf config's shape (global + local, window 4) saved in {@code dir}. */
  static Path makeHfModel(PythonReference py, String dir, int seed) {
    Path out = root.resolve(dir);
    py.run("hf_gptneo.py", PY, "make", out.toString(), "--seed", Integer.toString(seed), "--layers", "global,local",
        "--n_embd", "32", "--n_head", "4", "--n_ctx", "16", "--vocab", "256", "--window", "4");
    return out;
  }

  /** Random id sequences of at most n_ctx = 16 tokens (HuggingFace's positions end there). */
  static List<int[]> sequences(long seed) {
    Random r = new Random(seed);
    List<int[]> out = new ArrayList<>();
    for (int len : new int[] {16, 9, 2, 16}) {
      int[] ids = new int[len];
      for (int i = 0; i < len; i++) {
        ids[i] = r.nextInt(256);
      }
      out.add(ids);
    }
    return out;
  }

  static Path writeIds(List<int[]> seqs, String name) throws IOException {
    Path jsonl = root.resolve(name + ".jsonl");
    Path json = root.resolve(name + ".json");
    StringBuilder lines = new StringBuilder();
    for (int[] ids : seqs) {
      lines.append(JSON.writeValueAsString(java.util.Map.of("ids", ids))).append('\n');
    }
    Files.writeString(jsonl, lines);
    Files.writeString(json, JSON.writeValueAsString(seqs));
    return jsonl;
  }

  /** neomesh's {@code --score} log-probs of every sequence of {@code in}. */
  static List<double[]> neomeshScores(Path in, String tag, String... extra) throws IOException {
    Path out = root.resolve("scores-" + tag + ".jsonl");
    List<String> args = new ArrayList<>(List.of("--model", "hf", "--score", in.toString(), "--output", out.toString()));
    args.addAll(List.of(extra));
    main(args.toArray(String[]::new));
    List<double[]> scores = new ArrayList<>();
    for (String line : Files.readAllLines(out)) {
      JsonNode n = JSON.readTree(line);
      double[] lp = new double[n.get("logprobs").size()];
      for (int i = 0; i < lp.length; i++) {
        lp[i] = n.get("logprobs").get(i).asDouble();
      }
      scores.add(lp);
    }
    return scores;
  }

  static List<double[]> hfScores(JsonNode hf) {
    List<double[]> out = new ArrayList<>();
    for (JsonNode row : hf.get("logprobs")) {
      double[] lp = new double[row.size()];
      for (int i = 0; i < lp.length; i++) {
        lp[i] = row.get(i).asDouble();
      }
      out.add(lp);
    }
    return out;
  }

  /** The largest |a - b| over all log-probs; fails when the sequences' lengths differ. */
  static double maxDiff(List<double[]> a, List<double[]> b) {
    assertEquals(a.size(), b.size());
    double max = 0;
    for (int s = 0; s < a.size(); s++) {
      assertEquals(a.get(s).length, b.get(s).length, "sequence " + s);
      for (int i = 0; i < a.get(s).length; i++) {
        max = Math.max(max, Math.abs(a.get(s)[i] - b.get(s)[i]));
      }
    }
    return max;
  }

  @Test
  void anImportedHuggingFaceModelScoresHuggingFacesLogProbsOnEveryLayout() throws IOException {
    PythonReference py = PythonReference.require("torch", "transformers", "safetensors");
    Path hf = makeHfModel(py, "hf-random", 7);
    List<int[]> seqs = sequences(11);
    Path in = writeIds(seqs, "random-ids");
    List<double[]> want = hfScores(JSON.readTree(py.run("hf_gptneo.py", PY, "score", hf.toString(),
        root.resolve("random-ids.json").toString())));
    double one = maxDiff(neomeshScores(in, "x1", "--init_from", hf.toString()), want);
    double split = maxDiff(neomeshScores(in, "x2y2", "--init_from", hf.toString(), "--set", "mesh_shape=x:2,y:2",
        "--set", "layout=batch:x,heads:y,vocab:y"), want);
    System.out.printf(Locale.ROOT, "HuggingFace import: largest log-prob difference %.2e on x:1, %.2e on x:2,y:2%n",
        one, split);
    assertTrue(one < 1e-4, "x:1 differs from HuggingFace by " + one);
    assertTrue(split < 1e-4, "x:2,y:2 differs from HuggingFace by " + split);
  }

  /**
   * Greedy generation through --predict (prefill, cached steps, ids drawn on the devices) gives the
   * ids of HuggingFace's generate with its own cache, on one device and on a split layout; the
   * prompt (8 characters) and 8 new tokens stay within HuggingFace's 16 positions. neomesh stops a
   * sample at EOS, HuggingFace here does not, so neomesh's ids are a prefix of HuggingFace's, then EOS.
   */
  @Test
  void greedyGenerationOfAnImportedModelGivesHuggingFacesIds() throws IOException {
    PythonReference py = PythonReference.require("torch", "transformers", "safetensors");
    Path hf = makeHfModel(py, "hf-generate", 13);
    String prompt = "the quic";
    int[] ids = new CharTokenizer().encode(prompt);
    Path prompts = root.resolve("generate-prompts.json");
    Files.writeString(prompts, JSON.writeValueAsString(java.util.Map.of("batches", List.of(List.of(ids)))));
    JsonNode hfRun = JSON.readTree(py.run("hf_generate.py", PY, "generate", hf.toString(), "--prompts",
        prompts.toString(), "--new_tokens", "8", "--threads", "1"));
    JsonNode want = hfRun.get("results").get(0).get("ids").get(0);
    String[][] layouts = {{"x:1", ""}, {"x:2,y:2", "batch:x,heads:y,vocab:y"}};
    for (String[] l : layouts) {
      String path = "runs/generate-" + l[0].replace(':', '_').replace(',', '_');
      main("--model", "hf", "--init_from", hf.toString(), "--predict", "--prompt", prompt, "--temperature", "0",
          "--max_new_tokens", "8", "--num_samples", "2", "--set", "mesh_shape=" + l[0], "--set", "layout=" + l[1],
          "--set", "model_path=" + path);
      List<String> lines = Files.readAllLines(root.resolve(path + "/predictions_0.jsonl"));
      assertEquals(2, lines.size());
      for (String line : lines) {
        JsonNode got = JSON.readTree(line).get("ids");
        assertTrue(got.size() > 0, line);
        for (int i = 0; i < got.size(); i++) {
          assertEquals(want.get(i).asInt(), got.get(i).asInt(), l[0] + ": new token " + i + " (HF " + want + ")");
        }
        if (got.size() < 8) {
          assertEquals(new CharTokenizer().eosId(), want.get(got.size()).asInt(), "neomesh stopped before EOS");
        }
      }
    }
    System.out.println("HuggingFace generate: greedy ids equal on x:1 and x:2,y:2: " + want);
  }

  @Test
  void aTrainedModelExportsToHuggingFaceAndScoresTheSame() throws IOException {
    PythonReference py = PythonReference.require("torch", "transformers", "safetensors");
    main("--model", "hf", "--set", "model_path=runs/trained", "--no_progress");
    Path export = root.resolve("exported");
    main("--model", "hf", "--set", "model_path=runs/trained", "--export_hf", export.toString());
    List<int[]> seqs = sequences(5);
    Path in = writeIds(seqs, "heldout-ids");
    JsonNode hf = JSON.readTree(py.run("hf_gptneo.py", PY, "score", export.toString(),
        root.resolve("heldout-ids.json").toString()));
    assertEquals(0, hf.get("missing_keys").size(), hf.toString());
    assertEquals(0, hf.get("unexpected_keys").size(), hf.toString());
    double d = maxDiff(neomeshScores(in, "trained", "--set", "model_path=runs/trained"), hfScores(hf));
    System.out.printf(Locale.ROOT, "export: largest log-prob difference %.2e%n", d);
    assertTrue(d < 1e-4, "exported model differs from neomesh by " + d);
  }

  @Test
  void oneAdamStepFromImportedWeightsMatchesPyTorch() throws IOException {
    PythonReference py = PythonReference.require("torch", "transformers", "safetensors");
    Path hf = makeHfModel(py, "hf-step", 8);
    // epsilon 1e-4, not 1e-8: Adam's first step is about lr * sign(g), which float noise in a tiny
    // gradient could flip; a larger epsilon makes the update a smooth function of the gradient
    String[] step = {"--set", "model_path=runs/step", "--set", "train_steps=1", "--set", "epsilon=1e-4",
        "--set", "lr=0.001"};
    List<String> train = new ArrayList<>(List.of("--model", "hf", "--init_from", hf.toString(), "--no_progress"));
    train.addAll(List.of(step));
    main(train.toArray(String[]::new));
    List<String> export = new ArrayList<>(List.of("--model", "hf", "--export_hf", root.resolve("step-neomesh").toString()));
    export.addAll(List.of(step));
    main(export.toArray(String[]::new));

    // the batch neomesh trained on: the pipeline's first batch for the same settings
    int[] inputs;
    int[] labels;
    try (InputPipeline data = InputPipeline.train(InputPipeline.sources(root.resolve("configs/dataset_configs"),
        List.of(DatasetEntry.parse(List.of("chars", 1, "documents_random", 1.0)))),
        InputPipeline.Options.of(16, 4, 1234, root))) {
      var b = data.next();
      inputs = b.inputs();
      labels = b.labels();
    }
    Path batch = root.resolve("batch.json");
    Files.writeString(batch, JSON.writeValueAsString(java.util.Map.of("inputs", rows(inputs, 16), "labels",
        rows(labels, 16))));
    JsonNode torch = JSON.readTree(py.run("hf_gptneo.py", PY, "train_step", hf.toString(), batch.toString(),
        root.resolve("step-torch").toString(), "--lr", "0.001", "--beta1", "0.9", "--beta2", "0.95", "--eps", "1e-4"));
    double loss = firstLoss(root.resolve("runs/step/metrics.jsonl"));
    double lossRel = Math.abs(loss - torch.get("loss").asDouble()) / Math.abs(torch.get("loss").asDouble());
    double worst = 0;
    String worstName = "";
    try (Safetensors.Reader a = Safetensors.open(root.resolve("step-neomesh/model.safetensors"));
        Safetensors.Reader b = Safetensors.open(root.resolve("step-torch/model.safetensors"))) {
      for (String name : a.entries().keySet()) {
        float[] x = a.floats(name);
        float[] y = b.floats(name);
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < x.length; i++) {
          diff = Math.max(diff, Math.abs(x[i] - y[i]));
          scale = Math.max(scale, Math.abs(y[i]));
        }
        if (diff / scale > worst) {
          worst = diff / scale;
          worstName = name;
        }
      }
    }
    System.out.printf(Locale.ROOT, "one Adam step: loss relative difference %.2e, weights %.2e (%s)%n", lossRel,
        worst, worstName);
    assertTrue(lossRel < 1e-5, "loss " + loss + " vs PyTorch " + torch.get("loss"));
    assertTrue(worst < 1e-5, "updated " + worstName + " differs from PyTorch's by " + worst + " of its largest value");
  }

  @Test
  void aGptNeoMeshTensorFlowCheckpointImportsAndScoresLikeHuggingFacesConversion() throws IOException {
    PythonReference py = PythonReference.require("torch", "transformers", "tensorflow");
    Path gptneo = root.resolve("gptneo-ckpt");
    py.run("make_gptneo_tf_checkpoint.py", PY, gptneo.toString(), "--n_layer", "2", "--n_embd", "32", "--n_head", "4",
        "--n_ctx", "16", "--vocab", "256", "--padded_vocab", "320", "--seed", "5");
    Path converted = root.resolve("gptneo-as-hf");
    py.run("hf_gptneo.py", PY, "from_gptneo", gptneo.toString(), converted.toString(), "--layers", "global");
    List<int[]> seqs = sequences(21);
    Path in = writeIds(seqs, "gptneo-ids");
    List<double[]> want = hfScores(JSON.readTree(py.run("hf_gptneo.py", PY, "score", converted.toString(),
        root.resolve("gptneo-ids.json").toString())));
    double d = maxDiff(neomeshScores(in, "gptneo", "--init_from", gptneo.toString(), "--set",
        "attention_types=[[[\"global\"],2]]", "--set", "mesh_shape=x:2", "--set", "layout=vocab:x"), want);
    System.out.printf(Locale.ROOT, "GPT-Neo checkpoint import: largest log-prob difference %.2e%n", d);
    assertTrue(d < 1e-4, "imported GPT-Neo checkpoint differs from HuggingFace's conversion by " + d);
  }

  /** Each bad --init_from: one message naming the problem, exit 1, nothing written to model_path. */
  @Test
  void badImportsAreRefusedAndWriteNothing() throws IOException {
    PythonReference py = PythonReference.require("torch", "transformers", "safetensors");
    Path good = makeHfModel(py, "hf-bad-base", 9);
    Path neither = Files.createDirectories(root.resolve("neither"));
    Files.writeString(neither.resolve("notes.txt"), "not weights");
    Path truncated = copy(good, "truncated");
    byte[] bytes = Files.readAllBytes(truncated.resolve("model.safetensors"));
    Files.write(truncated.resolve("model.safetensors"), java.util.Arrays.copyOf(bytes, bytes.length - 100));
    Path missing = copy(good, "missing");
    rewrite(missing, name -> name.equals("transformer.h.1.mlp.c_fc.bias") ? null : name, false);
    Path shape = copy(good, "shape");
    rewrite(shape, name -> name, true);
    Object[][] cases = {
        {neither, "is neither a HuggingFace GPT-Neo folder"},
        {truncated, "is truncated"},
        {missing, "tensor transformer.h.1.mlp.c_fc.bias [128] is missing"},
        {shape, "tensor transformer.wpe.weight is [15, 32], expected [16, 32]"},
        {good, "n_embd: config has 64, HF config has hidden_size 32"},
    };
    for (Object[] c : cases) {
      List<String> args = new ArrayList<>(List.of("--model", "hf", "--init_from", c[0].toString(), "--set",
          "model_path=runs/bad", "--no_progress"));
      if (c[0] == good) {
        args.addAll(List.of("--set", "n_embd=64"));
      }
      String e = fails(args.toArray(String[]::new)).err();
      assertTrue(e.contains((String) c[1]), c[0] + ": " + e);
      assertEquals(1, e.lines().filter(l -> l.startsWith("neomesh: ")).count(), e);
      assertTrue(!Files.exists(root.resolve("runs/bad")), c[0] + " wrote to model_path");
    }
  }

  @Test
  void aFolderOfGptNeoFilesIsNotSilentlyStartedAfreshAndInexpressibleConfigsDoNotExport() throws IOException {
    Path foreign = Files.createDirectories(root.resolve("runs/foreign"));
    Files.writeString(foreign.resolve("model.ckpt-500.index"), "");
    Files.writeString(foreign.resolve("checkpoint"), "model_checkpoint_path: \"model.ckpt-500\"\n");
    Run r = fails("--model", "hf", "--set", "model_path=runs/foreign", "--no_progress");
    assertTrue(r.err().contains("holds GPT-Neo checkpoint files (model.ckpt-N) but no neomesh checkpoint: start from "
        + "them with --init_from"), r.err());
    main("--model", "hf", "--set", "model_path=runs/rotary", "--set", "rotary_emb=true", "--set", "train_steps=1",
        "--no_progress");
    r = fails("--model", "hf", "--set", "model_path=runs/rotary", "--set", "rotary_emb=true", "--set",
        "mlp_glu=true", "--export_hf", root.resolve("rotary-export").toString());
    assertTrue(r.err().contains("cannot express rotary_emb: true; mlp_glu: true"), r.err());
    assertTrue(!Files.exists(root.resolve("rotary-export")));
  }

  private static Path copy(Path from, String name) throws IOException {
    Path to = Files.createDirectories(root.resolve(name));
    for (String f : new String[] {"config.json", "model.safetensors"}) {
      Files.copy(from.resolve(f), to.resolve(f));
    }
    return to;
  }

  /** Rewrites dir's safetensors: each tensor renamed by {@code rename} (null drops it); {@code shortWpe} drops wpe's last row. */
  private static void rewrite(Path dir, java.util.function.UnaryOperator<String> rename, boolean shortWpe)
      throws IOException {
    Path file = dir.resolve("model.safetensors");
    java.util.Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
    java.util.Map<String, float[]> values = new java.util.LinkedHashMap<>();
    try (Safetensors.Reader r = Safetensors.open(file)) {
      for (Safetensors.Entry e : r.entries().values()) {
        String name = rename.apply(e.name());
        if (name == null) {
          continue;
        }
        float[] v = r.floats(e.name());
        long[] s = e.shape();
        if (shortWpe && name.equals("transformer.wpe.weight")) {
          s = new long[] {s[0] - 1, s[1]};
          v = java.util.Arrays.copyOf(v, (int) (s[0] * s[1]));
        }
        shapes.put(name, s);
        values.put(name, v);
      }
    }
    try (Safetensors.Writer w = Safetensors.create(file, shapes, java.util.Map.of("format", "pt"))) {
      values.forEach(w::write);
    }
  }

  private static int[][] rows(int[] flat, int n) {
    int[][] out = new int[flat.length / n][];
    for (int r = 0; r < out.length; r++) {
      out[r] = java.util.Arrays.copyOfRange(flat, r * n, (r + 1) * n);
    }
    return out;
  }

  private static double firstLoss(Path metrics) throws IOException {
    for (String line : Files.readAllLines(metrics)) {
      JsonNode n = JSON.readTree(line);
      if (n.has("loss") && !n.has("eval")) {
        return n.get("loss").asDouble();
      }
    }
    throw new AssertionError("no training loss in " + metrics);
  }
}
