package dev.neomesh.models.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ckpt.Checkpointer;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.VariableOp;
import dev.neomesh.mesh.lower.Devices;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.models.cli.GptLanguageModel;
import dev.neomesh.models.config.GptConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code parameter_precision: bfloat16} on a tiny GPT: bf16 parameters on the devices, f32 masters
 * with the optimizer state. The losses of a few Adam steps agree on every layout, ZeRO stage and
 * with microbatching; and a checkpoint is a float32 one, restoring exactly into a float32 run and back.
 */
class ParameterPrecisionTest {
  static final int BATCH = 4;
  static final int CTX = 8;
  static final String TINY = "\"n_head\": 4, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": 8, \"n_vocab\": 32";

  static GptConfig config(String precision, int zeroStage) {
    return GptConfig.fromJson("{" + TINY + ", \"parameter_precision\": \"" + precision + "\", \"zero_stage\": "
        + zeroStage + "}");
  }

  static TrainProgram program(GptConfig cfg, int microbatches) {
    OptimizerSettings opt = OptimizerSettings.adam(0.9, 0.95, 1e-8, 0.01).withZeroStage(cfg.zeroStage());
    return TrainProgram.build(new GptLanguageModel(cfg), 7, BATCH, CTX, microbatches,
        LearningRateSchedule.constant(0.01), opt);
  }

  static MeshRuntime runtime(TrainProgram p, String mesh, String rules) {
    MeshShape shape = MeshShape.parse(mesh);
    MeshRuntime rt = MeshRuntime.create(p.graph(), shape, LayoutRules.parse(rules), Devices.virtualCpus(shape.size()));
    rt.initialize();
    return rt;
  }

  static int[] tokens(long seed) {
    Random r = new Random(seed);
    int[] t = new int[BATCH * CTX];
    for (int i = 0; i < t.length; i++) {
      t[i] = 1 + r.nextInt(31);
    }
    return t;
  }

  static List<Double> steps(TrainProgram p, MeshRuntime rt, long from, int n) {
    List<Double> out = new ArrayList<>();
    for (long s = from; s < from + n; s++) {
      out.add(p.runStep(rt, s, tokens(1), tokens(2)).loss());
    }
    return out;
  }

  static List<Double> losses(GptConfig cfg, String mesh, String rules, int microbatches) {
    TrainProgram p = program(cfg, microbatches);
    try (MeshRuntime rt = runtime(p, mesh, rules)) {
      return steps(p, rt, 0, 4);
    }
  }

  static VariableOp variable(TrainProgram p, String name) {
    for (Op op : p.graph().ops()) {
      if (op instanceof VariableOp v && v.name().equals(name)) {
        return v;
      }
    }
    throw new AssertionError("no variable " + name);
  }

  @Test
  void bf16ParametersTrainAlikeOnEveryLayoutZeroStageAndWithMicrobatches() {
    List<Double> ref = losses(config("bfloat16", 0), "x:1", "", 1);
    List<Double> f32 = losses(config("float32", 0), "x:1", "", 1);
    assertTrue(ref.get(3) < ref.get(0), "bf16 parameters train: " + ref);
    assertNotEquals(f32, ref, "bf16 parameters are not float32 ones");
    for (int i = 0; i < 4; i++) {
      assertEquals(f32.get(i), ref.get(i), 0.02 * f32.get(i), "bf16 parameters near f32 at step " + i);
    }
    String[][] runs = {{"0", "x:2", "batch:x", "1"}, {"0", "x:2,y:2", "batch:x,heads:y", "1"},
        {"1", "x:2", "batch:x", "1"}, {"2", "x:2", "batch:x", "1"}, {"3", "x:2", "batch:x", "1"},
        {"0", "x:1", "", "2"}, {"2", "x:2", "batch:x", "2"}};
    for (String[] r : runs) {
      List<Double> got = losses(config("bfloat16", Integer.parseInt(r[0])), r[1], r[2], Integer.parseInt(r[3]));
      for (int i = 0; i < 4; i++) {
        assertEquals(ref.get(i), got.get(i), 5e-4 * ref.get(i), "zero_stage " + r[0] + " on " + r[1] + " \"" + r[2]
            + "\", " + r[3] + " microbatches, step " + i + ": " + got + " against " + ref);
      }
    }
  }

  @Test
  void mastersAreFloat32WithTheSlotsAndParametersBf16() {
    TrainProgram p = program(config("bfloat16", 1), 1);
    assertEquals(DType.BFLOAT16, variable(p, "gpt2/wte").output().dtype());
    VariableOp master = variable(p, "gpt2/wte/master");
    assertEquals(DType.FLOAT32, master.output().dtype());
    assertEquals("gpt2/wte", master.checkpointName());
    // on ZeRO's sharded view, like Adam's slots
    assertEquals(variable(p, "gpt2/wte/adam_m").output().shape(), master.output().shape());
    assertTrue(master.output().shape().names().get(0).startsWith("zero_"), master.output().shape().toString());
    assertEquals(DType.FLOAT32, variable(p, "gpt2/wte/adam_m").output().dtype());
    for (MeshTensor t : p.parameters()) {
      assertEquals(DType.BFLOAT16, t.dtype(), t.toString());
      assertEquals(DType.FLOAT32, variable(p, ((VariableOp) t.op()).name() + "/master").output().dtype());
    }
  }

  /** bf16 run (zero 1, x:2) -> checkpoint -> f32 run (x:1): the f32 parameters are the masters, bit for bit; and back. */
  @Test
  void checkpointsMoveBetweenFloat32AndBf16ParametersExactly(@TempDir Path dir) {
    TrainProgram bf = program(config("bfloat16", 1), 1);
    double[] master;
    try (MeshRuntime rt = runtime(bf, "x:2", "batch:x")) {
      steps(bf, rt, 0, 3);
      master = rt.step().fetch(variable(bf, "gpt2/wte/master").output()).run().get(0);
      new Checkpointer(rt).save(dir.resolve("bf16"), 3);
    }
    TrainProgram f = program(config("float32", 0), 1);
    double[] f32;
    try (MeshRuntime rt = runtime(f, "x:1", "")) {
      new Checkpointer(rt).restore(dir.resolve("bf16"), 3);
      assertArrayEquals(master, rt.step().fetch(variable(f, "gpt2/wte").output()).run().get(0), 0.0);
      steps(f, rt, 3, 1);
      f32 = rt.step().fetch(variable(f, "gpt2/wte").output()).run().get(0);
      new Checkpointer(rt).save(dir.resolve("f32"), 4);
    }
    TrainProgram back = program(config("bfloat16", 0), 1);
    try (MeshRuntime rt = runtime(back, "x:1", "")) {
      new Checkpointer(rt).restore(dir.resolve("f32"), 4);
      List<double[]> got = rt.step().fetch(variable(back, "gpt2/wte/master").output())
          .fetch(variable(back, "gpt2/wte").output()).run();
      assertArrayEquals(f32, got.get(0), 0.0);
      for (int i = 0; i < f32.length; i++) {
        assertEquals(bf16(f32[i]), got.get(1)[i], 0.0, "wte[" + i + "] is bf16 of its master");
      }
      assertTrue(Double.isFinite(steps(back, rt, 4, 1).get(0)));
    }
  }

  /** Round to nearest even bfloat16, as TensorFlow's Cast does. */
  static double bf16(double x) {
    int bits = Float.floatToRawIntBits((float) x);
    int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000;
    return Float.intBitsToFloat(rounded);
  }
}
