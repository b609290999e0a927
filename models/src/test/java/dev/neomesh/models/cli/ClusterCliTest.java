package dev.neomesh.models.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.data.CreateTfRecords;
import dev.neomesh.data.tokenizer.CharTokenizer;
import dev.neomesh.mesh.ckpt.Checkpoints;
import dev.neomesh.mesh.cluster.LocalCluster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI on TensorFlow clusters of worker processes on this host, as a user runs it: workers are
 * separate JVMs (the ones {@code scripts/cluster worker} starts; {@link LocalCluster} launches them
 * here so the test can kill one), the command is {@code scripts/neomesh}'s {@link Main}.
 */
class ClusterCliTest {
  @TempDir
  static Path root;

  @BeforeAll
  static void makeRoot() throws IOException {
    writeRepository(root);
  }

  /** A repository root with a character dataset and configs/small.json, a 2-layer GPT of width 32. */
  static void writeRepository(Path root) throws IOException {
    // varied text, like the demo's: this module's own sources (a repetitive toy text lets Adam's first
    // steps amplify rounding differences between layouts past 1e-5)
    StringBuilder text = new StringBuilder();
    try (var files = Files.walk(Path.of("src/main/java/dev/neomesh/models/train"))) {
      for (Path f : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
        text.append(Files.readString(f));
      }
    }
    Path in = root.resolve("in.txt");
    Files.writeString(in, text.toString());
    CharTokenizer chars = new CharTokenizer();
    CreateTfRecords.run(new CreateTfRecords.Options(in.toString(), "train", root.resolve("runs/data/train"), 1000,
        chars, 1, chars.eosId(), 256, 1, false), new PrintStream(new ByteArrayOutputStream()));
    Files.createDirectories(root.resolve("configs/dataset_configs"));
    Files.writeString(root.resolve("configs/dataset_configs/chars.json"), "{\"n_vocab\": 256, \"path\": "
        + "\"runs/data/train/*.tfrecords\", \"tokenizer_path\": \"char\"}");
    Files.writeString(root.resolve("configs/small.json"), """
        {"n_head": 4, "n_embd": 32, "n_layer": 2, "n_ctx": 32, "n_vocab": 256,
         "attention_types": [[["global"], 2]], "datasets": [["chars", 1, "documents_random", 1.0]],
         "model_path": "runs/small", "mesh_shape": "x:4", "layout": "batch:x", "train_batch_size": 12,
         "train_steps": 20, "eval_steps": 0, "predict_steps": 0, "iterations": 1,
         "lr": 0.003, "lr_decay": "cosine", "lr_decay_end": 150, "warmup_steps": 2, "opt_name": "adam", "weight_decay": 0.01,
         "beta1": 0.9, "beta2": 0.95, "epsilon": 1e-8, "embed_dropout": 0, "attn_dropout": 0, "res_dropout": 0,
         "gradient_clipping": 1.0}
        """);
  }

  private static MainTest.Run main(String... args) {
    List<String> all = new ArrayList<>(List.of("--model", "small", "--no_progress"));
    all.addAll(List.of(args));
    return MainTest.mainAt(root, "", all.toArray(String[]::new));
  }

  private static List<Double> losses(String run) throws IOException {
    List<Double> out = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(root.resolve("runs").resolve(run).resolve("metrics.jsonl"))) {
      JsonNode n = json.readTree(line);
      if (!n.has("eval")) {
        out.add(n.get("loss").asDouble());
      }
    }
    return out;
  }

  private static void assertClose(List<Double> want, List<Double> got, double rel, String what) {
    assertEquals(want.size(), got.size(), what + ": " + got);
    for (int i = 0; i < want.size(); i++) {
      assertEquals(want.get(i), got.get(i), rel * Math.abs(want.get(i)), what + ", step " + (i + 1));
    }
  }

  private static String[] run(String name, String mesh, String layout, int steps, String... more) {
    List<String> a = new ArrayList<>(List.of("--set", "model_path=runs/" + name, "--set", "mesh_shape=" + mesh,
        "--set", "layout=" + layout, "--set", "train_steps=" + steps, "--steps_per_checkpoint", "10"));
    a.addAll(List.of(more));
    return a.toArray(String[]::new);
  }

  /**
   * Two worker processes train 20 steps on x:2,y:2 (batch:x, heads:y) with the losses of one process
   * on x:4 and on x:2,y:2; the cluster's checkpoint then resumes on a 3-task cluster (x:3) and that
   * one's on one process (x:4), each continuing exactly the one-process run's losses.
   */
  @Test
  void aClusterTrainsLikeOneProcessAndItsCheckpointsMoveBetweenTaskCounts() throws IOException {
    MainTest.Run one = main(run("one", "x:4", "batch:x", 30));
    assertEquals(0, one.status(), one.err());
    List<Double> ref = losses("one");
    MainTest.Run oneGrid = main(run("grid", "x:2,y:2", "batch:x,heads:y", 20));
    assertEquals(0, oneGrid.status(), oneGrid.err());
    assertClose(ref.subList(0, 20), losses("grid"), 1e-5, "one process on x:2,y:2");

    try (LocalCluster workers = LocalCluster.start(MainTest.WORKER_JVM, 2, 2, 0)) {
      MainTest.Run c = main(run("c", "x:2,y:2", "batch:x,heads:y", 20, "--cluster", workers.spec().toString()));
      assertEquals(0, c.status(), c.err());
      assertTrue(c.out().contains("4 devices"), c.out());
    }
    assertClose(ref.subList(0, 20), losses("c"), 1e-5, "two worker processes on x:2,y:2");

    MainTest.Run three = main(run("c", "x:3", "batch:x", 25, "--cluster", "local:3"));
    assertEquals(0, three.status(), three.err());
    assertTrue(three.out().contains("resumed from checkpoint step 20"), three.out());
    MainTest.Run back = main(run("c", "x:4", "batch:x", 30));
    assertEquals(0, back.status(), back.err());
    assertTrue(back.out().contains("resumed from checkpoint step 25"), back.out());
    assertClose(ref, losses("c"), 1e-5, "2 tasks, then 3 tasks, then one process");
  }

  /**
   * A worker killed with SIGKILL mid-training: the run stops within 60 s with one message naming the
   * task and its address, exits 1, the last checkpoint is intact; restarting the worker and running the
   * same command again reaches the losses of an uninterrupted run. A second run on the same
   * model_path is refused while the first holds it, and an unreachable worker is named within 30 s.
   */
  @Test
  void aKilledWorkerStopsTheRunWithItsNameAndTheSameCommandResumes() throws Exception {
    MainTest.Run ref = main(run("ref", "x:2", "batch:x", 150));
    assertEquals(0, ref.status(), ref.err());
    long resumedFrom;
    try (LocalCluster workers = LocalCluster.start(MainTest.WORKER_JVM, 2, 1, 0)) {
      String[] cmd = run("k", "x:2", "batch:x", 150, "--cluster", workers.spec().toString());
      CompletableFuture<MainTest.Run> first = CompletableFuture.supplyAsync(() -> main(cmd));
      Path metrics = root.resolve("runs/k/metrics.jsonl");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (!(Files.exists(metrics) && Files.readAllLines(metrics).size() >= 12) && !first.isDone()) {
        assertTrue(System.nanoTime() < deadline, "the cluster run did not reach step 12");
        Thread.sleep(20);
      }
      assertFalse(first.isDone(), "the run ended before the worker was killed: " + (first.isDone() ? first.get() : ""));

      MainTest.Run second = main(cmd);
      assertEquals(1, second.status());
      assertTrue(second.err().contains("is in use by another neomesh run"), second.err());

      workers.process(1).destroyForcibly(); // SIGKILL
      long killed = System.nanoTime();
      MainTest.Run r = first.get(60, TimeUnit.SECONDS);
      double seconds = (System.nanoTime() - killed) / 1e9;
      assertTrue(seconds < 60, "stopped after " + seconds + " s");
      assertEquals(1, r.status(), r.out() + r.err());
      assertTrue(r.err().contains("cluster task 1 (" + workers.spec().address(1) + ") stopped answering"), r.err());
      assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), "no stack trace: " + r.err());
      Checkpoints.Checkpoint last = Checkpoints.latest(root.resolve("runs/k")).orElseThrow();
      assertTrue(last.step() >= 10, "a checkpoint was written before the kill: " + last.step());

      resumedFrom = last.step();
      workers.restart(1);
      MainTest.Run again = main(cmd);
      assertEquals(0, again.status(), again.err());
      assertTrue(again.out().contains("resumed from checkpoint step " + last.step()), again.out());
    }
    List<Double> got = losses("k");
    List<Double> want = losses("ref");
    int resumed = (int) (150 - resumedFrom); // metrics.jsonl also holds the killed run's steps: compare the resumed ones
    assertClose(want.subList(150 - resumed, 150), got.subList(got.size() - resumed, got.size()), 1e-6,
        "resumed after the kill");

    long t0 = System.nanoTime();
    MainTest.Run down = main(run("k", "x:2", "batch:x", 160, "--cluster", "localhost:1"));
    assertEquals(1, down.status());
    assertTrue((System.nanoTime() - t0) / 1e9 < 30, "an unreachable worker is named within 30 s");
    assertTrue(down.err().contains("cannot reach cluster task 0 (localhost:1)"), down.err());
  }
}
