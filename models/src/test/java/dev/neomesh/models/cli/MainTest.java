package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.data.CreateTfRecords;
import dev.neomesh.data.tokenizer.CharTokenizer;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line on a tiny GPT config and a tiny character dataset in a temporary repository root. */
class MainTest {
  /** Workers of --cluster local:N run on the test's own JVM and class path. */
  static final dev.neomesh.mesh.cluster.WorkerJvm WORKER_JVM = new dev.neomesh.mesh.cluster.WorkerJvm(
      Path.of(System.getProperty("java.home"), "bin", "java").toString(), System.getProperty("java.class.path"));

  @TempDir
  static Path root;

  @BeforeAll
  static void makeRoot() throws IOException {
    makeRootAt(root);
  }

  /** The tiny character dataset and the {@code tiny} config in repository root {@code root}. */
  static void makeRootAt(Path root) throws IOException {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < 300; i++) {
      text.append("to be or not to be, that is the question ").append(i % 5).append(". ");
    }
    Path in = root.resolve("in.txt");
    Files.writeString(in, text.toString());
    CharTokenizer chars = new CharTokenizer();
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
    for (String part : new String[] {"train", "val"}) {
      CreateTfRecords.run(new CreateTfRecords.Options(in.toString(), part, root.resolve("runs/data/tiny/" + part), 1000,
          chars, 1, chars.eosId(), 256, 1, false), quiet);
    }
    Files.createDirectories(root.resolve("configs/dataset_configs"));
    Files.writeString(root.resolve("configs/dataset_configs/tiny_char.json"), "{\"n_vocab\": 256, \"path\": "
        + "\"runs/data/tiny/train/*.tfrecords\", \"eval_path\": \"runs/data/tiny/val/*.tfrecords\", \"tokenizer_path\": "
        + "\"char\"}");
    Files.writeString(root.resolve("configs/tiny.json"), """
        {"n_head": 2, "n_embd": 16, "n_layer": 1, "n_ctx": 16, "n_vocab": 256,
         "attention_types": [[["global"], 1]], "datasets": [["tiny_char", 1, "documents_random", 1.0]],
         "model_path": "runs/tiny", "mesh_shape": "x:2", "layout": "batch:x", "train_batch_size": 4,
         "train_steps": 4, "eval_steps": 2, "predict_steps": 1, "predict_max_steps": 8, "iterations": 2,
         "lr": 0.01, "lr_decay": "cosine", "warmup_steps": 1, "opt_name": "adam", "weight_decay": 0.01,
         "gradient_clipping": 1.0}
        """);
  }

  record Run(int status, String out, String err) {}

  static Run main(String stdin, String... args) {
    return mainAt(root, stdin, args);
  }

  /** Runs the command line with repository root {@code root}. */
  static Run mainAt(Path root, String stdin, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = new Main(new PrintStream(out, true), new PrintStream(err, true),
        new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)), root, MainTest.WORKER_JVM).run(args);
    return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void trainsEvaluatesSamplesAndResumes() throws IOException {
    Run r = main("", "--model", "tiny", "--new", "--yes", "--steps_per_checkpoint", "2", "--no_progress");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("step 4/4"), r.out());
    assertTrue(r.out().contains("eval at step 4"), r.out());
    assertTrue(r.out().contains("sampling from checkpoint step 4"), r.out());
    assertTrue(Files.exists(root.resolve("runs/tiny/ckpt-4.manifest.json")));
    assertTrue(Files.readString(root.resolve("runs/tiny/predictions_4.txt")).contains("SAMPLE 0"));
    assertTrue(Files.exists(root.resolve("runs/tiny/predictions_4.jsonl")));
    Run more = main("", "--model", "tiny", "--set", "train_steps=6", "--set", "predict_steps=0", "--no_progress");
    assertEquals(0, more.status(), more.err());
    assertTrue(more.out().contains("resumed from checkpoint step 4"), more.out());
    Run eval = main("", "--model", "tiny", "--eval", "--set", "train_steps=6");
    assertEquals(0, eval.status(), eval.err());
    assertTrue(eval.out().contains("eval at step 6: loss"), eval.out());
    Run other = main("", "--model", root.resolve("configs/tiny.json").toString(), "--predict", "--set",
        "mesh_shape=x:1", "--set", "layout=");
    assertEquals(0, other.status(), other.err());
    assertTrue(other.out().contains("predictions written to"), other.out());
  }

  /** The samples of {@code --predict}'s jsonl file of {@code run} at step {@code step}. */
  static List<com.fasterxml.jackson.databind.JsonNode> samples(String run, int step) throws IOException {
    List<com.fasterxml.jackson.databind.JsonNode> out = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(root.resolve(run + "/predictions_" + step + ".jsonl"))) {
      out.add(new com.fasterxml.jackson.databind.ObjectMapper().readTree(line));
    }
    return out;
  }

  @Test
  void predictGeneratesWithItsControlsAndWritesBothFiles() throws IOException {
    Run trained = main("", "--model", "tiny", "--set", "model_path=runs/gen", "--set", "predict_steps=0",
        "--set", "eval_steps=0", "--no_progress");
    assertEquals(0, trained.status(), trained.err());
    String[] predict = {"--model", "tiny", "--set", "model_path=runs/gen", "--predict"};
    Run greedy = main("", concat(predict, "--prompt", "to be", "--temperature", "0", "--num_samples", "2",
        "--max_new_tokens", "12"));
    assertEquals(0, greedy.status(), greedy.err());
    assertTrue(greedy.out().contains("sampling from checkpoint step 4: greedy, 12 new tokens, 2 sample(s)"), greedy.out());
    assertTrue(greedy.out().contains("key/value cache 2.0 KiB per sequence"), greedy.out()); // 2 * 1 * 16 * 16 * 4
    List<com.fasterxml.jackson.databind.JsonNode> g = samples("runs/gen", 4);
    assertEquals(2, g.size());
    assertEquals("to be", g.get(0).get("prompt").asText());
    assertEquals("[116,111,32,98,101]", g.get(0).get("prompt_ids").toString());
    assertEquals(g.get(0).get("ids"), g.get(1).get("ids"), "greedy samples of one prompt are equal");
    assertTrue(g.get(0).get("ids").size() >= 1 && g.get(0).get("ids").size() <= 12, g.get(0).toString());
    assertTrue(g.get(0).get("tokens_per_sec").asDouble() > 0);
    String text = g.get(0).get("text").asText();
    assertTrue(greedy.out().startsWith("sampling") && greedy.out().contains("to be" + text), greedy.out());
    assertTrue(Files.readString(root.resolve("runs/gen/predictions_4.txt")).contains("to be" + text));

    // a seed gives its samples again; the stop text cuts a sample where it first appears
    String[] sampled = concat(predict, "--prompt", "to be", "--num_samples", "2", "--max_new_tokens", "12", "--seed", "5");
    assertEquals(0, main("", sampled).status());
    com.fasterxml.jackson.databind.JsonNode first = samples("runs/gen", 4).get(0);
    assertEquals(0, main("", sampled).status());
    assertEquals(first.get("ids"), samples("runs/gen", 4).get(0).get("ids"), "the same seed draws the same sample");
    assertEquals(5, first.get("seed").asLong());
    if (text.length() >= 3) {
      String stop = text.substring(1, 3);
      Run stopped = main("", concat(predict, "--prompt", "to be", "--temperature", "0", "--max_new_tokens", "12",
          "--stop", stop));
      assertEquals(0, stopped.status(), stopped.err());
      assertEquals(text.substring(0, text.indexOf(stop)), samples("runs/gen", 4).get(0).get("text").asText());
    }

    // interactive: one prompt per line, blank lines skipped, one compilation
    Run chat = main("to be\n\nor not\n", concat(predict, "--interactive", "--temperature", "0", "--max_new_tokens", "3"));
    assertEquals(0, chat.status(), chat.err());
    assertEquals(1, chat.out().split("sampling from", -1).length - 1, chat.out());
    List<com.fasterxml.jackson.databind.JsonNode> both = samples("runs/gen", 4);
    assertEquals(List.of("to be", "or not"), both.stream().map(n -> n.get("prompt").asText()).toList());
  }

  @Test
  void badGenerationInputPrintsOneMessageAndExitsNonZero() throws IOException {
    Files.writeString(root.resolve("configs/dataset_configs/tiny_128.json"), "{\"n_vocab\": 128, \"path\": "
        + "\"runs/data/tiny/train/*.tfrecords\", \"tokenizer_path\": \"char\"}");
    String[] predict = {"--model", "tiny", "--set", "model_path=runs/gen_bad", "--predict"};
    String[][] cases = {
        {"--prompt", "", "the prompt is empty"},
        {"--top_p", "0", "--top_p 0.0 is outside (0, 1]"},
        {"--top_p", "1.5", "--top_p 1.5 is outside (0, 1]"},
        {"--temperature", "-1", "--temperature -1.0 is negative"},
        {"--num_samples", "0", "--num_samples 0: pass at least 1"},
        {"--top_k", "300", "--top_k 300 is outside [0, n_vocab 256]"},
        {"--stop", "", "--stop \"\" would stop"},
    };
    for (String[] c : cases) {
      Run r = main("", concat(predict, c[0], c[1]));
      assertEquals(1, r.status(), c[0] + " " + c[1] + ": " + r.out());
      assertTrue(r.err().contains(c[2]), c[0] + " " + c[1] + ": " + r.err());
      assertFalse(r.err().contains("\tat "), r.err());
    }
    Run outside = main("", "--model", "tiny", "--set", "model_path=runs/gen_bad", "--predict", "--set", "n_vocab=128",
        "--set", "datasets=[[\"tiny_128\", 1, \"documents_random\", 1.0]]", "--prompt", "caf\u00e9");
    assertEquals(1, outside.status(), outside.out());
    assertTrue(outside.err().contains("the prompt's token 3 has id 195, outside the model's vocabulary [0, 128)"),
        outside.err());
    Run noPredict = main("", "--model", "tiny", "--set", "model_path=runs/gen_bad", "--eval", "--temperature", "0.5");
    assertEquals(1, noPredict.status());
    assertTrue(noPredict.err().contains("--temperature is only used with --predict"), noPredict.err());
    assertFalse(Files.exists(root.resolve("runs/gen_bad")), "nothing written");
  }

  /**
   * A model trained on GPT-2 records generates: GPT-2's padding_id 50257 is one past its vocabulary, and
   * the old sampler padded its rows with it (a Gather error on the first token).
   */
  @Test
  void aModelTrainedOnGpt2RecordsGenerates() throws IOException {
    Path in = root.resolve("gpt2-in.txt");
    Files.writeString(in, "It was the best of times, it was the worst of times. ".repeat(60));
    dev.neomesh.data.tokenizer.Tokenizer gpt2 = new dev.neomesh.data.tokenizer.Gpt2Tokenizer();
    CreateTfRecords.run(new CreateTfRecords.Options(in.toString(), "gpt2", root.resolve("runs/data/gpt2"), 1000, gpt2,
        1, gpt2.eosId(), 64, 1, false), new PrintStream(new ByteArrayOutputStream()));
    Files.writeString(root.resolve("configs/dataset_configs/tiny_gpt2.json"), "{\"n_vocab\": 50257, \"path\": "
        + "\"runs/data/gpt2/*.tfrecords\", \"tokenizer_path\": \"gpt2\", \"tokenizer_is_pretrained\": true, "
        + "\"eos_id\": 50256, \"padding_id\": 50257}");
    String[] gpt2Run = {"--model", "tiny", "--set", "model_path=runs/gpt2", "--set", "n_vocab=50257",
        "--set", "datasets=[[\"tiny_gpt2\", 1, \"documents_random\", 1.0]]", "--set", "eval_steps=0",
        "--set", "train_steps=2", "--set", "predict_steps=0", "--no_progress"};
    Run trained = main("", gpt2Run);
    assertEquals(0, trained.status(), trained.err());
    Run predicted = main("", concat(gpt2Run, "--predict", "--prompt", "It was the", "--num_samples", "2",
        "--max_new_tokens", "20"));
    assertEquals(0, predicted.status(), predicted.err());
    List<com.fasterxml.jackson.databind.JsonNode> s = samples("runs/gpt2", 2);
    assertEquals("[1026,373,262]", s.get(0).get("prompt_ids").toString()); // GPT-2's ids of "It was the"
    for (com.fasterxml.jackson.databind.JsonNode sample : s) {
      assertTrue(sample.get("ids").size() >= 1, sample.toString());
      sample.get("ids").forEach(id -> assertTrue(id.asInt() >= 0 && id.asInt() < 50257, sample.toString()));
    }
  }

  @Test
  void newAsksAndKeepsTheRunOnNo() throws IOException {
    Path run = root.resolve("runs/keep");
    Files.createDirectories(run);
    Files.writeString(run.resolve("marker"), "x");
    Run r = main("n\n", "--model", "tiny", "--new", "--set", "model_path=runs/keep");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("Are you sure you want to remove '" + run + "' to start afresh? (y/n)"), r.out());
    assertTrue(Files.exists(run.resolve("marker")));
  }

  @Test
  void userErrorsPrintOneMessageAndExitNonZero() {
    Run unknown = main("", "--model", "nosuch");
    assertEquals(1, unknown.status());
    assertTrue(unknown.err().contains("no model config") && unknown.err().contains("tiny"), unknown.err());
    assertFalse(unknown.err().contains("\tat "), unknown.err());
    Run devices = main("", "--model", "tiny", "--devices", "/device:CPU:0", "--set", "model_path=runs/devices");
    assertEquals(1, devices.status());
    assertTrue(devices.err().contains("has 2 devices but 1 devices were given (/device:CPU:0)"), devices.err());
    Run badKey = main("", "--model", "tiny", "--set", "n_embdd=3");
    assertEquals(1, badKey.status());
    assertTrue(badKey.err().contains("n_embd"), badKey.err());
    Run badLayout = main("", "--model", "tiny", "--set", "layout=batch:x,embd:x", "--set", "model_path=runs/bad");
    assertEquals(1, badLayout.status());
    assertTrue(badLayout.err().contains("mesh axis \"x\""), badLayout.err());
    Run flag = main("", "--model", "tiny", "--no_such_flag");
    assertEquals(2, flag.status());
  }

  /**
   * --threads / --inter_op_threads: a run with one thread of each trains the default run's losses
   * (1e-5: a kernel split over fewer threads may sum in another order), the session configuration
   * carries them, and 0 or a cluster run are refused with a message.
   */
  @Test
  void threadFlagsSetTheSessionsThreadsAndBadValuesAreRefused() throws IOException {
    trainTiny("runs/threads_default", 3);
    String[] base = {"--model", "tiny", "--set", "train_steps=3", "--set", "eval_steps=0", "--set", "predict_steps=0",
        "--set", "n_layer=2", "--set", "attention_types=[[[\"global\"], 2]]", "--set", "train_batch_size=8",
        "--set", "lr_decay=constant", "--set", "iterations=1", "--set", "res_dropout=0.1", "--set", "attn_dropout=0.1",
        "--steps_per_checkpoint", "3", "--no_progress"};
    List<String> one = new ArrayList<>(List.of(base));
    one.addAll(List.of("--set", "model_path=runs/threads_one", "--threads", "1", "--inter_op_threads", "1"));
    Run r = main("", one.toArray(new String[0]));
    assertEquals(0, r.status(), r.err());
    assertSameLosses(losses("runs/threads_default"), losses("runs/threads_one"), "one intra- and one inter-op thread");
    assertTrue(r.out().contains("(intra-op threads 1, inter-op 1)"), r.out());
    // the session configurations themselves: DevicesTest

    Run zero = main("", "--model", "tiny", "--threads", "0", "--set", "model_path=runs/threads_zero");
    assertEquals(1, zero.status());
    assertTrue(zero.err().contains("--threads must be at least 1, got 0"), zero.err());
    Run cluster = main("", "--model", "tiny", "--inter_op_threads", "2", "--cluster", "local:2",
        "--set", "model_path=runs/threads_cluster");
    assertEquals(1, cluster.status());
    assertTrue(cluster.err().contains("with --cluster the workers run the ops"), cluster.err());
    assertFalse(Files.exists(root.resolve("runs/threads_cluster")), "a refused run writes nothing");
  }

  @Test
  void badDataBadPathsAndCorruptCheckpointsStopCleanly() throws IOException {
    // a dataset config that under-declares its vocabulary: the ids (bytes up to 'u') exceed n_vocab 64
    Files.writeString(root.resolve("configs/dataset_configs/tiny_small_vocab.json"), "{\"n_vocab\": 64, \"path\": "
        + "\"runs/data/tiny/train/*.tfrecords\", \"tokenizer_path\": \"char\"}");
    Run ids = main("", "--model", "tiny", "--set", "n_vocab=64", "--set", "model_path=runs/small_vocab",
        "--set", "datasets=[[\"tiny_small_vocab\", 1, \"documents_random\", 1.0]]", "--set", "eval_steps=0",
        "--set", "predict_steps=0");
    assertEquals(1, ids.status(), ids.out());
    // the input pipeline checks every record it reads: file, byte offset, id and the fix
    assertTrue(ids.err().contains("holds token id") && ids.err().contains("not below n_vocab 64")
        && ids.err().contains("byte offset"), ids.err());
    assertFalse(Files.exists(root.resolve("runs/small_vocab/ckpt-1.index")), "no checkpoint from a bad batch");

    Run heads = main("", "--model", "tiny", "--set", "n_head=3");
    assertEquals(1, heads.status());
    assertTrue(heads.err().contains("n_embd") && heads.err().contains("n_head"), heads.err());

    Run unwritable = main("", "--model", "tiny", "--set", "model_path=in.txt/run");
    assertEquals(1, unwritable.status(), unwritable.out());
    assertTrue(unwritable.err().contains("in.txt"), unwritable.err());

    Run first = main("", "--model", "tiny", "--set", "model_path=runs/corrupt", "--set", "eval_steps=0",
        "--set", "predict_steps=0");
    assertEquals(0, first.status(), first.err());
    Path data;
    try (var files = Files.list(root.resolve("runs/corrupt"))) {
      data = files.filter(f -> f.getFileName().toString().startsWith("ckpt-4.data")).findFirst().orElseThrow();
    }
    Files.write(data, new byte[] {1, 2, 3});
    Run resume = main("", "--model", "tiny", "--set", "model_path=runs/corrupt", "--set", "train_steps=6",
        "--set", "eval_steps=0", "--set", "predict_steps=0");
    assertEquals(1, resume.status(), resume.out());
    assertTrue(resume.err().contains("ckpt-4"), resume.err());
    assertTrue(Files.exists(data) && Files.exists(root.resolve("runs/corrupt/ckpt-4.index")),
        "a failed resume deletes no checkpoint");
  }

  /** Keys accepted for GPT-Neo's sake that change nothing: one warning at start, naming each key the run sets. */
  @Test
  void keysWithoutEffectPrintOneWarningAtStart() {
    Run r = main("", "--model", "tiny", "--check_dataset", "--set", "entmax_loss=true", "--set",
        "eval_tasks=[\"lambada\"]");
    assertEquals(0, r.status(), r.err());
    String warning = "neomesh: warning: the model config sets keys that neomesh accepts but ignores: entmax_loss "
        + "(the loss is always softmax cross-entropy); eval_tasks (the lambada task is "
        + "not implemented, eval_steps evaluates on eval_path). docs/MODEL.md lists every such key.";
    assertEquals(List.of(warning), r.err().lines().filter(l -> l.contains("warning")).toList(), r.err());
    assertTrue(r.out().contains("check_dataset: OK"), r.out());
    Run quiet = main("", "--model", "tiny", "--check_dataset");
    assertFalse(quiet.err().contains("warning"), quiet.err());
  }

  /** What can be known before training stops the run before its first step, and before --new deletes anything. */
  @Test
  void problemsKnownBeforeTrainingStopTheRunBeforeStepOne() throws IOException {
    Files.writeString(root.resolve("configs/dataset_configs/tiny_no_eval.json"), "{\"n_vocab\": 256, \"path\": "
        + "\"runs/data/tiny/train/*.tfrecords\", \"tokenizer_path\": \"char\"}");
    Files.writeString(root.resolve("configs/dataset_configs/tiny_lost_eval.json"), "{\"n_vocab\": 256, \"path\": "
        + "\"runs/data/tiny/train/*.tfrecords\", \"eval_path\": \"runs/data/nosuch/*.tfrecords\", "
        + "\"tokenizer_path\": \"char\"}");
    Path run = root.resolve("runs/early");
    Files.createDirectories(run);
    Files.writeString(run.resolve("marker"), "x");
    String[] common = {"--model", "tiny", "--new", "--yes", "--no_progress", "--set", "model_path=runs/early"};

    Run noEval = main("", concat(common, "--set", "datasets=[[\"tiny_no_eval\", 1, \"documents_random\", 1.0]]"));
    assertEquals(1, noEval.status(), noEval.out());
    assertTrue(noEval.err().contains("dataset tiny_no_eval (") && noEval.err().contains("has no eval_path, but "
        + "eval_steps 2 evaluates on it: add an eval_path to that dataset config, or set eval_steps to 0 (e.g. --set "
        + "eval_steps=0)"), noEval.err());
    Run lostEval = main("", concat(common, "--set", "datasets=[[\"tiny_lost_eval\", 1, \"documents_random\", 1.0]]"));
    assertEquals(1, lostEval.status(), lostEval.out());
    assertTrue(lostEval.err().contains("runs/data/nosuch/*.tfrecords") && lostEval.err().contains("matches no files"),
        lostEval.err());
    Run evalBatch = main("", concat(common, "--set", "eval_batch_size=3"));
    assertEquals(1, evalBatch.status(), evalBatch.out());
    assertTrue(evalBatch.err().contains("eval_batch_size 3 does not divide over the 2 devices"), evalBatch.err());
    Run prompt = main("", concat(common, "--prompt_file", "nosuch_prompt.txt"));
    assertEquals(1, prompt.status(), prompt.out());
    assertTrue(prompt.err().contains("cannot read --prompt_file nosuch_prompt.txt"), prompt.err());

    for (Run r : List.of(noEval, lostEval, evalBatch, prompt)) {
      assertFalse(r.out().contains("training "), "no step ran: " + r.out());
      assertFalse(r.err().contains("\tat "), r.err());
    }
    assertTrue(Files.exists(run.resolve("marker")), "--new deleted nothing");
    assertFalse(Files.exists(run.resolve("metrics.jsonl")), "no step ran");
  }

  /** A trained run of the tiny config for the --score tests (2 steps, checkpoints 1 and 2). */
  private static String[] scoreRun() {
    String[] run = {"--model", "tiny", "--set", "model_path=runs/score", "--set", "eval_steps=0", "--set",
        "predict_steps=0", "--set", "train_steps=2"};
    if (!Files.exists(root.resolve("runs/score/ckpt-2.manifest.json"))) {
      Run trained = main("", concat(run, "--steps_per_checkpoint", "1", "--no_progress"));
      assertEquals(0, trained.status(), trained.err());
    }
    return run;
  }

  @Test
  void scoreWritesEachLineWithItsIdsAndLogProbs() throws IOException {
    String[] run = scoreRun();
    Path in = root.resolve("score_in.jsonl");
    String longText = "to be or not to be, that is the question"; // 40 characters: 2.5 windows of n_ctx 16
    Files.writeString(in, "{\"text\": \"" + longText + "\"}\n{\"ids\": [116, 111, 32], \"name\": \"kept\"}\n\n"
        + "{\"ids\": [65]}\n");
    Path output = root.resolve("score_out.jsonl");
    Run r = main("", concat(run, "--score", in.toString(), "--output", output.toString()));
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("scored 3 sequences (41 token log-probs) with checkpoint step 2: wrote " + output),
        r.out());
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(output)) {
      lines.add(new ObjectMapper().readTree(line));
    }
    assertEquals(3, lines.size(), "one line per non-blank input line");
    int[] chars = new CharTokenizer().encode(longText);
    assertEquals(longText, lines.get(0).get("text").asText());
    assertEquals(chars.length, lines.get(0).get("ids").size());
    assertEquals(chars[5], lines.get(0).get("ids").get(5).asInt());
    assertEquals("kept", lines.get(1).get("name").asText(), "the input's own fields stay");
    for (JsonNode line : lines) {
      JsonNode lp = line.get("logprobs");
      assertEquals(line.get("ids").size() - 1, lp.size(), line.toString());
      double sum = 0;
      for (JsonNode v : lp) {
        assertTrue(v.asDouble() < 0, line.toString());
        sum += v.asDouble();
      }
      assertEquals(sum, line.get("sum_logprob").asDouble(), 1e-4, line.toString());
    }
    assertEquals(0.0, lines.get(2).get("sum_logprob").asDouble(), "one token: nothing to predict");

    Path first = root.resolve("score_step1.jsonl");
    Run step1 = main("", concat(run, "--score", in.toString(), "--output", first.toString(), "--step", "1"));
    assertEquals(0, step1.status(), step1.err());
    assertTrue(step1.out().contains("with checkpoint step 1"), step1.out());
    assertFalse(Files.readString(first).equals(Files.readString(output)), "another checkpoint, other log-probs");
  }

  /** Each bad input stops --score before a graph is built, with one message, exit 1, and no output file. */
  @Test
  void scoreRejectsEachBadInputAndWritesNothing() throws IOException {
    String[] run = scoreRun();
    Path output = root.resolve("score_bad/out.jsonl");
    Files.createDirectories(output.getParent());
    String[][] cases = {
        {"{\"ids\": [1, 2]}\nnot json\n", "line 2: not JSON"},
        {"[1, 2]\n", "line 1: not a JSON object"},
        {"{\"ids\": [1, 2]}\n{\"name\": \"x\"}\n", "line 2: has neither \"text\" nor \"ids\""},
        {"{\"text\": \"ab\", \"ids\": [1, 2]}\n", "line 1: has both \"text\" and \"ids\""},
        {"{\"ids\": [1, 300]}\n", "line 1: id 300 at index 1 is outside [0, 256)"},
        {"{\"ids\": [1, -1]}\n", "line 1: id -1 at index 1 is outside [0, 256)"},
        {"{\"ids\": [1, \"a\"]}\n", "line 1: \"ids\"[1] is \"a\", not an integer token id"},
        {"{\"ids\": []}\n", "line 1: empty sequence"},
        {"{\"ids\": [1]}\n{\"text\": \"\"}\n", "line 2: empty sequence"},
        {"\n", "has no lines to score"}};
    Path in = root.resolve("score_bad/in.jsonl");
    for (String[] c : cases) {
      Files.writeString(in, c[0]);
      Run r = main("", concat(run, "--score", in.toString(), "--output", output.toString()));
      assertEquals(1, r.status(), c[1] + ": " + r.out());
      assertTrue(r.err().contains(c[1]), c[1] + ": " + r.err());
      boolean badShape = !c[1].contains("outside") && !c[1].contains("empty sequence");
      assertTrue(!badShape || r.err().contains("{\"text\": \"...\"} or {\"ids\": [1, 2, 3]}"),
          "a malformed line's message shows the format: " + r.err());
    }
    Files.writeString(in, "{\"ids\": [1, 2]}\n");
    String[][] flags = {
        {"--score", root.resolve("nosuch.jsonl").toString(), "--output", output.toString(), "cannot read --score"},
        {"--score", in.toString(), "--output", root.resolve("nosuch/out.jsonl").toString(), "cannot write --output"},
        {"--score", in.toString(), "--output", root.resolve("score_bad").toString(), "is a directory"},
        {"--score", in.toString(), "--score needs --output OUT.jsonl"},
        {"--score", in.toString(), "--output", output.toString(), "--eval", "cannot be combined with --eval"},
        {"--score", in.toString(), "--output", output.toString(), "--predict", "cannot be combined with --predict"},
        {"--score", in.toString(), "--output", output.toString(), "--new", "--yes", "cannot be combined with --new"},
        {"--output", output.toString(), "--output is only used with --score"},
        {"--score", in.toString(), "--output", output.toString(), "--step", "7", "no complete checkpoint for step 7"}};
    for (String[] f : flags) {
      Run r = main("", concat(run, Arrays.copyOf(f, f.length - 1)));
      assertEquals(1, r.status(), f[f.length - 1] + ": " + r.out());
      assertTrue(r.err().contains(f[f.length - 1]), f[f.length - 1] + ": " + r.err());
      assertFalse(r.err().contains("\tat "), r.err());
    }
    Run noRun = main("", "--model", "tiny", "--set", "model_path=runs/never", "--score", in.toString(), "--output",
        output.toString());
    assertEquals(1, noRun.status(), noRun.out());
    assertTrue(noRun.err().contains("no checkpoint in") && noRun.err().contains("to score"), noRun.err());
    try (var left = Files.list(output.getParent())) {
      assertEquals(List.of("in.jsonl"), left.map(p -> p.getFileName().toString()).toList(),
          "no output and no temporary file");
    }
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void checkDatasetAndAutoLayout() {
    Run check = main("", "--model", "tiny", "--check_dataset");
    assertEquals(0, check.status(), check.err());
    assertTrue(check.out().contains("check_dataset: OK"), check.out());
    Run plan = main("", "--model", "tiny", "--auto_layout");
    assertEquals(0, plan.status(), plan.err());
    assertTrue(plan.out().contains("Auto-selected layout:"), plan.out());
  }

  @Test
  void autoLayoutExplainsItselfAndWritesTheConfig() throws Exception {
    Path written = root.resolve("planned/tiny_planned.json");
    Run plan = main("", "--model", "tiny", "--auto_layout_and_mesh_shape", "--write_config", written.toString());
    assertEquals(0, plan.status(), plan.err());
    assertTrue(plan.out().startsWith("Num cores:\n2\nAuto-selected layout:\n"), plan.out());
    assertTrue(plan.out().contains("Auto-selected mesh shape:"), plan.out());
    assertTrue(plan.out().contains("| mesh"), "a table of the best candidates: " + plan.out());
    assertTrue(plan.out().contains("Collectives each rule of the winner adds"), plan.out());
    String json = Files.readString(written);
    assertTrue(json.contains("\"mesh_shape\"") && json.contains("\"layout\""), json);
    assertEquals(0, main("", "--model", written.toString(), "--auto_layout").status(), "the written config loads");
  }

  @Test
  void anImpossibleMemoryBudgetSaysHowFarOverItIs() {
    Run plan = main("", "--model", "tiny", "--auto_layout", "--memory_budget", "1KiB");
    assertEquals(1, plan.status(), plan.out());
    assertTrue(plan.err().contains("over"), plan.err());
    Run bad = main("", "--model", "tiny", "--auto_layout", "--memory_budget", "lots");
    assertEquals(1, bad.status());
    assertTrue(bad.err().contains("--memory_budget \"lots\" is not a size"), bad.err());
  }

  /** The training losses metrics.jsonl of {@code run} records, by step. */
  static java.util.SortedMap<Integer, Double> losses(String run) throws IOException {
    java.util.SortedMap<Integer, Double> out = new java.util.TreeMap<>();
    for (String line : Files.readAllLines(root.resolve(run + "/metrics.jsonl"))) {
      JsonNode n = new ObjectMapper().readTree(line);
      if (n.has("loss") && !n.has("eval")) {
        out.put(n.get("step").asInt(), n.get("loss").asDouble());
      }
    }
    return out;
  }

  static void assertSameLosses(java.util.SortedMap<Integer, Double> want, java.util.SortedMap<Integer, Double> got,
      String what) {
    assertEquals(want.keySet(), got.keySet(), what);
    for (int step : want.keySet()) {
      assertEquals(want.get(step), got.get(step), 1e-5 * Math.abs(want.get(step)), what + " at step " + step);
    }
  }

  /** The tiny GPT with dropout, trained through the CLI as {@code run} with these settings. */
  static void trainTiny(String run, int steps, String... sets) {
    List<String> args = new ArrayList<>(List.of("--model", "tiny", "--set", "model_path=" + run, "--set",
        "train_steps=" + steps, "--set", "eval_steps=0", "--set", "predict_steps=0", "--set", "res_dropout=0.1",
        "--set", "attn_dropout=0.1", "--set", "n_layer=2", "--set", "attention_types=[[[\"global\"], 2]]",
        "--set", "train_batch_size=8", "--set", "lr_decay=constant", "--set", "iterations=1", "--steps_per_checkpoint", "3", "--no_progress"));
    for (String s : sets) {
      args.add("--set");
      args.add(s);
    }
    Run r = main("", args.toArray(new String[0]));
    assertEquals(0, r.status(), r.err());
  }

  /**
   * ZeRO stage 3 and recompute through the CLI: the tiny GPT (2 layers, dropout, Adam with weight decay
   * and clipping) trains with the losses of data parallelism (1e-5) at stage 3 on x:4 and on x:2,y:2
   * (batch:x,heads:y), with recompute_grad, and with two microbatches per replica; a stage-3 checkpoint of x:4 resumes at
   * stage 0 on x:1 and on x:2,y:2 with the uninterrupted run's losses.
   */
  @Test
  void zeroStage3AndRecomputeTrainWithDataParallelLossesAndTheirCheckpointsMove() throws IOException {
    String x4 = "mesh_shape=x:4";
    trainTiny("runs/z0", 6, x4);
    java.util.SortedMap<Integer, Double> want = losses("runs/z0");
    assertEquals(6, want.size(), want.toString());
    trainTiny("runs/z3", 6, x4, "zero_stage=3");
    assertSameLosses(want, losses("runs/z3"), "zero_stage 3 on x:4");
    trainTiny("runs/z3r", 6, x4, "zero_stage=3", "recompute_grad=true");
    assertSameLosses(want, losses("runs/z3r"), "zero_stage 3 with recompute on x:4");
    trainTiny("runs/z0nodrop", 6, x4, "res_dropout=0", "attn_dropout=0");
    trainTiny("runs/z3mb", 6, x4, "zero_stage=3", "tokens_per_mb_per_replica=16", "res_dropout=0", "attn_dropout=0");
    assertSameLosses(losses("runs/z0nodrop"), losses("runs/z3mb"), "zero_stage 3 with two microbatches per replica"
        + " on x:4 (without dropout, whose masks are drawn per microbatch)");
    trainTiny("runs/z3xy", 6, "mesh_shape=x:2,y:2", "layout=batch:x,heads:y", "zero_stage=3");
    assertSameLosses(want, losses("runs/z3xy"), "zero_stage 3 on x:2,y:2");
    for (String[] target : new String[][] {{"x:1", ""}, {"x:2,y:2", "batch:x,heads:y"}}) {
      String run = "runs/z3moved" + target[0].replace(":", "").replace(",", "");
      trainTiny(run, 3, x4, "zero_stage=3");
      trainTiny(run, 6, "mesh_shape=" + target[0], "layout=" + target[1]);
      java.util.SortedMap<Integer, Double> got = losses(run);
      assertSameLosses(want, got, "a stage-3 checkpoint of x:4 resumed on " + target[0]);
    }
  }
}
