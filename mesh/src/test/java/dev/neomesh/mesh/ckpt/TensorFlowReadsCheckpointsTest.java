package dev.neomesh.mesh.ckpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.testing.PythonReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TensorFlow Python reads neomesh's checkpoints as they are: every variable, saved in slices
 * from a 4-device mesh, comes back whole through {@code tf.train.load_checkpoint(prefix)
 * .get_tensor(name)} with neomesh's exact values. Skips (fails under NEOMESH_REQUIRE_PYTHON)
 * without a Python that has TensorFlow; see {@link PythonReference}.
 */
class TensorFlowReadsCheckpointsTest {
  @TempDir
  Path tmp;

  /** What read_tf_checkpoint.py printed for one tensor. */
  record PyTensor(String dtype, long[] shape, double[] values) {}

  @Test
  void tensorFlowPythonReadsEverySlicedVariableWhole() {
    PythonReference py = PythonReference.require("tensorflow", "numpy");
    MeshGraph g = new MeshGraph(11);
    MeshOps m = new MeshOps(g);
    Dim vocab = new Dim("vocab", 16);
    Dim embd = new Dim("embd", 8);
    Dim hidden = new Dim("hidden", 12);
    Dim pos = new Dim("pos", 8);
    Dim out = new Dim("out", 3);
    // split on different dims of different dtypes (vocab: rows, hidden: columns), one replicated
    List<MeshTensor> vars = List.of(
        m.variable("embed/table", m.randomNormal(Shape.of(vocab, embd), DType.BFLOAT16, "table", 0, 1)),
        m.variable("dense/kernel", m.randomNormal(Shape.of(embd, hidden), DType.FLOAT32, "kernel", 0, 1)),
        m.variable("dense/bias", m.randomNormal(Shape.of(hidden), DType.FLOAT64, "bias", 0, 1)),
        m.variable("positions", m.range(pos, DType.INT32), false),
        m.variable("scale", m.randomNormal(Shape.of(out), DType.FLOAT32, "scale", 0, 1)));
    Path dir = tmp.resolve("run");
    Map<String, double[]> saved = new LinkedHashMap<>();
    Checkpoints.Checkpoint c;
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:4"),
        LayoutRules.parse("vocab:x,hidden:x,pos:x"))) {
      rt.initialize();
      MeshRuntime.Step s = rt.step();
      vars.forEach(s::fetch);
      List<double[]> values = s.run();
      c = new Checkpointer(rt).save(dir, 10);
      for (int i = 0; i < vars.size(); i++) {
        saved.put(m.variableOp(vars.get(i)).name(), values.get(i));
      }
    }

    // the premise: the split variables are stored as slices, the replicated one whole
    BundleIndex index = BundleIndex.read(c.prefix());
    for (String split : List.of("embed/table", "dense/kernel", "dense/bias", "positions")) {
      assertTrue(index.tensor(split).sliced(), split);
    }
    assertFalse(index.tensor("scale").sliced());

    Map<String, long[]> listed = new LinkedHashMap<>();
    Map<String, PyTensor> read = new LinkedHashMap<>();
    parse(py.run("read_tf_checkpoint.py", Duration.ofMinutes(3), c.prefixString()), listed, read);

    List<String> names = c.manifest().variables().stream().map(Manifest.Entry::name).sorted().toList();
    assertEquals(names, listed.keySet().stream().sorted().toList(), "tf.train.list_variables names = the manifest's");
    for (Manifest.Entry e : c.manifest().variables()) {
      PyTensor t = read.get(e.name());
      assertNotNull(t, e.name());
      assertArrayEquals(e.sizes(), listed.get(e.name()), "list_variables shape of " + e.name());
      assertArrayEquals(e.sizes(), t.shape(), "get_tensor shape of " + e.name());
      assertEquals(e.dtype().toLowerCase(), t.dtype(), "dtype of " + e.name()); // FLOAT32 → float32, ...
      assertArrayEquals(saved.get(e.name()), t.values(), 0.0, "values of " + e.name());
    }
  }

  /** Parses read_tf_checkpoint.py's lines ("list NAME SHAPE", "tensor NAME DTYPE SHAPE VALUES", tab-separated). */
  static void parse(String stdout, Map<String, long[]> listed, Map<String, PyTensor> read) {
    for (String line : stdout.split("\n")) {
      String[] f = line.split("\t", -1);
      switch (f[0]) {
        case "list" -> listed.put(f[1], sizes(f[2]));
        case "tensor" -> read.put(f[1], new PyTensor(f[2], sizes(f[3]),
            f[4].isEmpty() ? new double[0] : Arrays.stream(f[4].split(" ")).mapToDouble(Double::parseDouble).toArray()));
        default -> {
          if (!line.isBlank()) {
            throw new AssertionError("unexpected line from read_tf_checkpoint.py: " + line);
          }
        }
      }
    }
  }

  private static long[] sizes(String csv) {
    return csv.isEmpty() ? new long[0] : Arrays.stream(csv.split(",")).mapToLong(Long::parseLong).toArray();
  }
}
