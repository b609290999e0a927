package dev.neomesh.models.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.data.CreateTfRecords;
import dev.neomesh.data.DatasetEntry;
import dev.neomesh.data.tokenizer.CharTokenizer;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ckpt.Checkpoints;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The trainer on a tiny stand-in model and a tiny character dataset made in a temporary folder. */
class TrainerTest {
  @TempDir
  static Path data;

  @BeforeAll
  static void makeDataset() throws IOException {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < 400; i++) {
      text.append("the quick brown fox ").append(i % 7).append(" jumps over the lazy dog. ");
    }
    Path in = data.resolve("in");
    Files.createDirectories(in);
    Files.writeString(in.resolve("a.txt"), text.toString());
    Files.writeString(in.resolve("b.txt"), text.reverse().toString());
    CharTokenizer chars = new CharTokenizer();
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
    CreateTfRecords.run(new CreateTfRecords.Options(in.resolve("a.txt").toString(), "train", data.resolve("train"), 1000,
        chars, 10, chars.eosId(), 256, 1, false), quiet);
    CreateTfRecords.run(new CreateTfRecords.Options(in.resolve("b.txt").toString(), "eval", data.resolve("eval"), 1000,
        chars, 10, chars.eosId(), 256, 1, false), quiet);
    Path configs = data.resolve("dataset_configs");
    Files.createDirectories(configs);
    Files.writeString(configs.resolve("tiny.json"), "{\"n_vocab\": 256, \"path\": \"train/*.tfrecords\", "
        + "\"eval_path\": \"eval/*.tfrecords\", \"tokenizer_path\": \"char\", \"eos_id\": 1, \"padding_id\": 0}");
  }

  static TrainSettings settings(Path modelPath, String mesh, String layout, long steps, Integer tokensPerMb) {
    return new TrainSettings(modelPath, data, data.resolve("dataset_configs"),
        List.of(new DatasetEntry("tiny", 1, DatasetEntry.DOCUMENTS_RANDOM, 1.0)), MeshShape.parse(mesh),
        LayoutRules.parse(layout), null, 16, 256, 8, 4,
        2, steps, 2, 5, 2, 3, new LearningRateSchedule(0.05, LearningRateSchedule.Decay.COSINE, 8, 2),
        OptimizerSettings.adam(0.9, 0.95, 1e-8, 0.01).withClipping(1.0), tokensPerMb, 8, false);
  }

  static Trainer.Result train(TrainSettings s, double dropout) {
    return new Trainer(s, new TinyLm(256, 16, dropout), new PrintStream(new ByteArrayOutputStream())).train();
  }

  static void assertSameLosses(List<Double> want, List<Double> got, double tol) {
    assertEquals(want.size(), got.size());
    for (int i = 0; i < want.size(); i++) {
      assertEquals(want.get(i), got.get(i), tol, "step " + i);
    }
  }

  @Test
  void resumedRunHasTheLossesOfAnUninterruptedOne(@TempDir Path runs) throws IOException {
    Trainer.Result full = train(settings(runs.resolve("full"), "x:1", "", 8, null), 0.2);
    assertTrue(full.losses().get(7) < full.losses().get(0), "loss falls: " + full.losses());
    Trainer.Result first = train(settings(runs.resolve("resumed"), "x:1", "", 5, null), 0.2); // checkpoints 3 and 5
    Trainer.Result rest = train(settings(runs.resolve("resumed"), "x:1", "", 8, null), 0.2);
    assertEquals(5, rest.startStep());
    List<Double> joined = new ArrayList<>(first.losses());
    joined.addAll(rest.losses());
    assertSameLosses(full.losses(), joined, 1e-6);
    List<String> lines = Files.readAllLines(runs.resolve("resumed/metrics.jsonl"));
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("{\"step\":8,\"loss\":")), lines.toString());
    assertTrue(lines.stream().anyMatch(l -> l.contains("\"eval\":true") && l.contains("bits_per_byte")), lines.toString());
    try (var files = Files.list(runs.resolve("resumed"))) {
      assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("events.out.tfevents.")));
    }
    assertEquals(List.of(3L, 5L, 6L, 8L), Checkpoints.list(runs.resolve("resumed")).stream()
        .map(Checkpoints.Checkpoint::step).toList());
  }

  @Test
  void dropoutMasksChangeFromStepToStep(@TempDir Path runs) {
    // with a constant lr of 0 the weights never move, so differing losses on a repeated batch come from dropout only
    TrainSettings s = settings(runs.resolve("a"), "x:1", "", 4, null);
    TrainSettings frozen = new TrainSettings(s.modelPath(), s.baseDir(), s.datasetConfigs(), s.datasets(), s.meshShape(),
        s.layout(), s.devices(), s.nCtx(), s.nVocab(), s.trainBatchSize(), s.evalBatchSize(), s.predictBatchSize(), 2, 0,
        s.seed(), 1, 100, LearningRateSchedule.constant(0), OptimizerSettings.adam(0.9, 0.95, 1e-8, 0), null, 8, false);
    Trainer.Result withDropout = train(frozen, 0.5);
    assertNotEquals(withDropout.losses().get(0), withDropout.losses().get(1));
  }

  @Test
  void checkpointWrittenOnOneMeshResumesOnAnother(@TempDir Path runs) {
    Trainer.Result full = train(settings(runs.resolve("full"), "x:1", "", 8, null), 0.2);
    train(settings(runs.resolve("moved"), "x:4", "batch:x", 5, null), 0.2);
    Trainer.Result rest = train(settings(runs.resolve("moved"), "x:2,y:2", "batch:x,hidden:y", 8, null), 0.2);
    assertEquals(5, rest.startStep());
    assertSameLosses(full.losses().subList(5, 8), rest.losses(), 1e-4);
  }

  static TrainSettings zero(TrainSettings s, int stage) {
    return new TrainSettings(s.modelPath(), s.baseDir(), s.datasetConfigs(), s.datasets(), s.meshShape(), s.layout(),
        s.devices(), s.nCtx(), s.nVocab(), s.trainBatchSize(), s.evalBatchSize(), s.predictBatchSize(), s.trainSteps(),
        s.evalSteps(), s.seed(), s.logEvery(), s.stepsPerCheckpoint(), s.schedule(), s.optimizer().withZeroStage(stage),
        s.tokensPerMbPerReplica(), s.predictMaxSteps(), s.progressBar());
  }

  /**
   * ZeRO stages 1 and 2 (Adam with weight decay and clipping) train with stage 0's losses on x:4 and
   * x:2,y:2; a stage-2 checkpoint of x:4 resumes on one device at stage 0 with the same losses.
   */
  @Test
  void zeroStagesTrainWithTheLossesOfDataParallelismAndTheirCheckpointsMove(@TempDir Path runs) {
    Trainer.Result full = train(settings(runs.resolve("full"), "x:4", "batch:x", 8, null), 0.2);
    for (int stage = 1; stage <= 2; stage++) {
      assertSameLosses(full.losses(), train(zero(settings(runs.resolve("s" + stage), "x:4", "batch:x", 8, null), stage),
          0.2).losses(), 1e-5);
    }
    assertSameLosses(full.losses(),
        train(zero(settings(runs.resolve("s2xy"), "x:2,y:2", "batch:x,hidden:y", 8, null), 2), 0.2).losses(), 1e-5);
    train(zero(settings(runs.resolve("moved"), "x:4", "batch:x", 5, null), 2), 0.2);
    Trainer.Result rest = train(settings(runs.resolve("moved"), "x:1", "", 8, null), 0.2);
    assertEquals(5, rest.startStep());
    assertSameLosses(full.losses().subList(5, 8), rest.losses(), 1e-5);
  }

  /**
   * What each stage communicates and keeps, on x:4 batch:x. The views' batch axis goes to
   * {@code zero_vocab}, the dim covering the most parameter bytes (wte [vocab, embd] and wo [hidden,
   * vocab]); w1 [embd, hidden] and the bias [hidden] stay replicated. Stage 2 reduce-scatters the two
   * sharded gradients where stage 1 allreduces them, both gather the two new parameters (allconcat),
   * and the planner's optimizer memory falls by 3/4 of the sharded slots.
   */
  @Test
  void zeroStagesReduceScatterGatherAndShardTheOptimizerState() {
    MeshShape mesh = MeshShape.parse("x:4");
    LayoutRules rules = LayoutRules.parse("batch:x");
    java.util.Map<Integer, dev.neomesh.mesh.lower.Counters> counters = new java.util.HashMap<>();
    java.util.Map<Integer, Long> optimizer = new java.util.HashMap<>();
    for (int stage = 0; stage <= 2; stage++) {
      OptimizerSettings opt = OptimizerSettings.adam(0.9, 0.95, 1e-8, 0.01).withZeroStage(stage);
      TrainProgram p = TrainProgram.build(new TinyLm(256, 16, 0), 1, 8, 16, 1,
          new LearningRateSchedule(0.05, LearningRateSchedule.Decay.CONSTANT, 8, 0), opt);
      try (dev.neomesh.mesh.lower.MeshRuntime rt = dev.neomesh.mesh.lower.MeshRuntime.onVirtualCpus(p.graph(), mesh, rules)) {
        counters.put(stage, rt.counters());
      }
      optimizer.put(stage, new dev.neomesh.layout.CostModel(p.graph(),
          dev.neomesh.layout.CostModel.Options.adam(dev.neomesh.layout.MachineConstants.DEFAULTS))
          .estimate(mesh, rules).memory().optimizer());
    }
    assertEquals(0, counters.get(0).count("reducescatter[x]") + counters.get(1).count("reducescatter[x]"));
    assertEquals(2, counters.get(2).count("reducescatter[x]"), "wte and wo: " + counters.get(2).entries());
    assertEquals(2 * 256 * 16 * 4, counters.get(2).bytes("reducescatter[x]"), "each device's whole partial slices");
    assertEquals(2, counters.get(1).count("allconcat[x]"), "the two new parameters: " + counters.get(1).entries());
    assertEquals(2, counters.get(2).count("allconcat[x]"));
    assertEquals(counters.get(0).bytes("allreduce[x]"), counters.get(1).bytes("allreduce[x]"),
        "stage 1 allreduces the gradients as data parallelism does");
    long sharded = 2 * 2 * 256 * 16 * 4; // two slots of wte and of wo, float32
    assertEquals(optimizer.get(0) - sharded * 3 / 4, optimizer.get(1), "their slots on 1/4 of each device");
    assertEquals(optimizer.get(1), optimizer.get(2));
  }

  @Test
  void aZeroStageNeedsTheBatchSplit(@TempDir Path runs) {
    NeomeshException e = assertThrows(NeomeshException.class,
        () -> train(zero(settings(runs.resolve("z"), "x:4", "hidden:x", 2, null), 1), 0));
    assertTrue(e.getMessage().contains("zero_stage 1 shards the optimizer state over the mesh axis the batch dim is split on")
        && e.getMessage().contains("add a rule such as batch:x"), e.getMessage());
  }

  /**
   * ZeRO stages 1 and 2 with two microbatches per replica on x:4: the losses of the whole batch at stage 0
   * (without dropout, whose masks are drawn per microbatch).
   */
  @Test
  void zeroStagesWithMicrobatchesGiveTheFullBatchUpdate(@TempDir Path runs) {
    Trainer.Result full = train(settings(runs.resolve("full"), "x:4", "batch:x", 4, null), 0);
    for (int stage = 1; stage <= 2; stage++) {
      TrainSettings s = zero(settings(runs.resolve("s" + stage), "x:4", "batch:x", 4, 16), stage);
      assertEquals(2, new Trainer(s, new TinyLm(256, 16, 0), System.out).microbatches());
      assertSameLosses(full.losses(), train(s, 0).losses(), 1e-5);
    }
  }

  @Test
  void microbatchesGiveTheFullBatchUpdate(@TempDir Path runs) {
    Trainer.Result full = train(settings(runs.resolve("full"), "x:1", "", 4, null), 0);
    Trainer.Result micro = train(settings(runs.resolve("micro"), "x:1", "", 4, 32), 0); // 2 rows per microbatch
    assertEquals(4, new Trainer(settings(runs.resolve("m"), "x:1", "", 4, 32), new TinyLm(256, 16, 0), System.out)
        .microbatches());
    assertSameLosses(full.losses(), micro.losses(), 1e-5);
  }

  @Test
  void evaluateTheLatestCheckpoint(@TempDir Path runs) {
    TrainSettings s = settings(runs.resolve("run"), "x:2", "batch:x", 3, null);
    train(s, 0);
    Trainer t = new Trainer(s, new TinyLm(256, 16, 0), new PrintStream(new ByteArrayOutputStream()));
    Trainer.EvalResult e = t.evaluate();
    assertEquals(3, e.step());
    assertTrue(e.loss() > 0 && e.perplexity() > 1);
    assertEquals(e.loss() / Math.log(2), e.bitsPerByte(), 1e-9);
  }

  @Test
  void deviceCountMustMatchTheMesh(@TempDir Path runs) {
    TrainSettings s = settings(runs.resolve("d"), "x:4", "batch:x", 1, null);
    TrainSettings two = new TrainSettings(s.modelPath(), s.baseDir(), s.datasetConfigs(), s.datasets(), s.meshShape(),
        s.layout(), dev.neomesh.mesh.lower.Devices.virtualCpus(2), s.nCtx(), s.nVocab(), s.trainBatchSize(),
        s.evalBatchSize(), s.predictBatchSize(), 1, 0, s.seed(), 1, 1, s.schedule(), s.optimizer(), null, 8, false);
    NeomeshException e = assertThrows(NeomeshException.class, () -> new Trainer(two, new TinyLm(256, 16, 0),
        System.out).train());
    assertEquals("mesh_shape \"x:4\" has 4 devices but 2 devices were given (/device:CPU:0,/device:CPU:1): set a mesh "
        + "of 2 devices (e.g. --set mesh_shape=x:2, or plan one with --auto_layout_and_mesh_shape), or give exactly 4 "
        + "devices with --devices/--gpu_ids", e.getMessage());
  }
}
