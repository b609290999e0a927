package dev.neomesh.mesh.ckpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TFloat32;

class CheckpointsTest {
  @TempDir
  Path tmp;

  /** A small program: three float variables of different shapes (and a scalar), plus "v = v*2+1" updates. */
  private static final class Program {
    final MeshGraph g;
    final List<MeshTensor> vars = new ArrayList<>();

    Program(long seed, int hidden, boolean extra) {
      g = new MeshGraph(seed);
      MeshOps m = new MeshOps(g);
      Dim io = new Dim("io", 8);
      Dim h = new Dim("hidden", hidden);
      Dim out = new Dim("out", 4);
      vars.add(m.variable("w1", m.randomNormal(Shape.of(io, h), DType.FLOAT32, "w1", 0, 1)));
      vars.add(m.variable("b1", m.randomNormal(Shape.of(h), DType.FLOAT32, "b1", 0, 1)));
      vars.add(m.variable("w2", m.randomNormal(Shape.of(h, out), DType.FLOAT32, "w2", 0, 1)));
      vars.add(m.variable("scale", m.randomNormal(Shape.SCALAR, DType.FLOAT32, "scale", 0, 1)));
      if (extra) {
        vars.add(m.variable("extra", m.zeros(Shape.of(out), DType.FLOAT32)));
      }
      for (MeshTensor v : List.copyOf(vars)) {
        m.assign(v, m.add(m.mul(v, 2.0), 1.0));
      }
    }

    Program() {
      this(7, 12, false);
    }

    MeshRuntime on(String mesh, String layout) {
      return MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout));
    }

    List<double[]> values(MeshRuntime rt) {
      MeshRuntime.Step s = rt.step();
      vars.forEach(s::fetch);
      return s.run();
    }
  }

  private static void assertSameValues(List<double[]> want, List<double[]> got) {
    assertEquals(want.size(), got.size());
    for (int i = 0; i < want.size(); i++) {
      assertArrayEquals(want.get(i), got.get(i), 0.0, "variable " + i);
    }
  }

  /** Trains one step on x:4 (hidden split), saves; returns the saved values. */
  private List<double[]> saveTrained(Path dir, String mesh, String layout, long step) {
    Program p = new Program();
    try (MeshRuntime rt = p.on(mesh, layout)) {
      rt.initialize();
      List<double[]> initial = p.values(rt);
      rt.step().withUpdates().run();
      List<double[]> trained = p.values(rt);
      assertFalse(java.util.Arrays.equals(initial.get(0), trained.get(0)), "the update changed the weights");
      new Checkpointer(rt).save(dir, step);
      return trained;
    }
  }

  @Test
  void restoresOnOtherMeshesAndLayouts() {
    Path dir = tmp.resolve("run");
    List<double[]> saved = saveTrained(dir, "x:4", "hidden:x", 10);
    assertTrue(Files.exists(dir.resolve("ckpt-10.index")));
    assertTrue(Files.exists(dir.resolve("ckpt-10.data-00000-of-00001")));
    assertTrue(Files.exists(dir.resolve("ckpt-10.manifest.json")));

    String[][] targets = {{"x:2,y:2", "io:x,hidden:y"}, {"x:1", ""}, {"x:2,y:2", "hidden:x,out:y"},
        {"x:4", "io:x"}, {"x:4", "hidden:x"}};
    for (String[] t : targets) {
      Program fresh = new Program(99, 12, false); // different seed: initial values differ from the checkpoint
      try (MeshRuntime rt = fresh.on(t[0], t[1])) {
        // no initialize(): restore alone must set every slice of every variable
        Checkpoints.Checkpoint c = new Checkpointer(rt).restoreLatest(dir).orElseThrow();
        assertEquals(10, c.step());
        assertSameValues(saved, fresh.values(rt));
      }
    }
  }

  @Test
  void saveFromTwoAxisLayoutRestoresOnOneDevice() {
    Path dir = tmp.resolve("run");
    List<double[]> saved = saveTrained(dir, "x:2,y:2", "io:y,hidden:x", 3);
    Program fresh = new Program(5, 12, false);
    try (MeshRuntime rt = fresh.on("x:1", "")) {
      new Checkpointer(rt).restore(dir, 3);
      assertSameValues(saved, fresh.values(rt));
    }
  }

  @Test
  void replicatedSlicesAreWrittenOnce() throws IOException {
    long fullBytes = (8 * 12 + 12 + 12 * 4 + 1) * 4L;
    for (String[] t : new String[][] {{"x:4", ""}, {"x:4", "hidden:x"}, {"x:2,y:2", "hidden:x"},
        {"x:2,y:2", "io:y,out:x"}}) {
      Path dir = tmp.resolve("r" + t[0].replace(':', '_').replace(',', '_') + t[1].replace(':', '_').replace(',', '_'));
      List<double[]> saved = saveTrained(dir, t[0], t[1], 1);
      // the data file holds each element once: replicas did not write their copies
      assertEquals(fullBytes, Files.size(dir.resolve("ckpt-1.data-00000-of-00001")), t[0] + " " + t[1]);
      // and TensorFlow reads each variable back whole, in a graph of its own
      try (Graph g = new Graph(); Session s = new Session(g)) {
        Ops tf = Ops.create(g);
        Restore r = tf.train.restore(tf.constant(dir.resolve("ckpt-1").toString()),
            tf.array("w1", "b1", "w2", "scale"), tf.array("", "", "", ""),
            List.of(TFloat32.class, TFloat32.class, TFloat32.class, TFloat32.class));
        Session.Runner run = s.runner();
        r.tensors().forEach(run::fetch);
        try (Result res = run.run()) {
          for (int i = 0; i < 4; i++) {
            assertArrayEquals(saved.get(i), HostTensors.toDoubles(res.get(i)), 0.0);
          }
          assertArrayEquals(new long[] {8, 12}, res.get(0).shape().asArray());
        }
      }
    }
  }

  @Test
  void sliceSpecs() {
    var layout = LayoutRules.parse("hidden:x").layoutOf("w", Shape.of(new Dim("io", 8), new Dim("hidden", 12)),
        MeshShape.parse("x:4"));
    assertEquals("8 12 -:3,3", Checkpointer.sliceSpec(layout, 1));
    var two = LayoutRules.parse("io:y,hidden:x").layoutOf("w", Shape.of(new Dim("io", 8), new Dim("hidden", 12)),
        MeshShape.parse("x:2,y:2"));
    assertEquals("8 12 4,4:6,6", Checkpointer.sliceSpec(two, 3));
    var rep = LayoutRules.parse("").layoutOf("w", Shape.of(new Dim("io", 8)), MeshShape.parse("x:2"));
    assertEquals("", Checkpointer.sliceSpec(rep, 1));
  }

  @Test
  void savingRepeatedlyDoesNotGrowTheGraphAndKeepsLastN() {
    Path dir = tmp.resolve("run");
    Program p = new Program();
    try (MeshRuntime rt = p.on("x:4", "hidden:x")) {
      rt.initialize();
      Checkpointer ckpt = new Checkpointer(rt);
      ckpt.save(dir, 1, 2);
      long ops = count(rt.graph().operations());
      for (long step = 2; step <= 5; step++) {
        rt.step().withUpdates().run();
        ckpt.save(dir, step, 2);
      }
      assertEquals(ops, count(rt.graph().operations()), "save ops are built once per checkpointer");
      List<double[]> last = p.values(rt);
      assertEquals(List.of(4L, 5L), Checkpoints.list(dir).stream().map(Checkpoints.Checkpoint::step).toList());
      try (Stream<Path> files = Files.list(dir)) {
        List<String> names = files.map(f -> f.getFileName().toString()).sorted().toList();
        assertEquals(List.of("ckpt-4.data-00000-of-00001", "ckpt-4.index", "ckpt-4.manifest.json",
            "ckpt-5.data-00000-of-00001", "ckpt-5.index", "ckpt-5.manifest.json"), names);
      } catch (IOException e) {
        throw new RuntimeException(e);
      }
      // restoring into the same runtime after more training rolls the values back
      rt.step().withUpdates().run();
      ckpt.restore(dir, 5);
      assertSameValues(last, p.values(rt));
    }
  }

  private static long count(Iterator<?> it) {
    long n = 0;
    while (it.hasNext()) {
      it.next();
      n++;
    }
    return n;
  }

  @Test
  void interruptedSaveLeavesThePreviousCheckpointAsLatest() throws IOException {
    Path dir = tmp.resolve("run");
    Program p = new Program();
    try (MeshRuntime rt = p.on("x:4", "hidden:x")) {
      rt.initialize();
      AtomicBoolean crash = new AtomicBoolean();
      Checkpointer ckpt = new Checkpointer(rt, () -> {
        if (crash.get()) {
          throw new IllegalStateException("killed");
        }
      });
      ckpt.save(dir, 1);
      List<double[]> atOne = p.values(rt);
      rt.step().withUpdates().run();
      crash.set(true);
      assertThrows(IllegalStateException.class, () -> ckpt.save(dir, 2));
      crash.set(false);
      try (Stream<Path> files = Files.list(dir)) {
        assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("ckpt-2.tmp-")),
            "the interrupted save left its temporary files");
      }
      // a crash between the renames: index and data of step 3 in place, no manifest
      Files.writeString(dir.resolve("ckpt-3.index"), "half");
      Files.writeString(dir.resolve("ckpt-3.data-00000-of-00001"), "half");
      assertEquals(1, Checkpoints.latest(dir).orElseThrow().step());

      Program fresh = new Program(3, 12, false);
      try (MeshRuntime rt2 = fresh.on("x:2,y:2", "io:x,hidden:y")) {
        assertEquals(1, new Checkpointer(rt2).restoreLatest(dir).orElseThrow().step());
        assertSameValues(atOne, fresh.values(rt2));
      }
      // the next save removes the leftovers
      ckpt.save(dir, 4);
      try (Stream<Path> files = Files.list(dir)) {
        List<String> names = files.map(f -> f.getFileName().toString()).sorted().toList();
        assertTrue(names.stream().allMatch(n -> n.startsWith("ckpt-1.") || n.startsWith("ckpt-4.")), names.toString());
      }
    }
    assertTrue(Checkpoints.latest(tmp.resolve("never-written")).isEmpty());
  }

  @Test
  void userErrorsNameTheFileAndVariable() throws IOException {
    Path dir = tmp.resolve("run");
    saveTrained(dir, "x:4", "hidden:x", 7);

    Program extra = new Program(7, 12, true);
    try (MeshRuntime rt = extra.on("x:2", "hidden:x")) {
      Checkpointer ckpt = new Checkpointer(rt);
      NeomeshException e = assertThrows(NeomeshException.class, () -> ckpt.restore(dir, 7));
      assertTrue(e.getMessage().contains("variable \"extra\" [out:4] is not in checkpoint"), e.getMessage());
      assertTrue(e.getMessage().contains("ckpt-7.manifest.json"), e.getMessage());
    }

    Program wider = new Program(7, 16, false);
    try (MeshRuntime rt = wider.on("x:2", "hidden:x")) {
      Checkpointer ckpt = new Checkpointer(rt);
      NeomeshException e = assertThrows(NeomeshException.class, () -> ckpt.restore(dir, 7));
      assertTrue(e.getMessage().contains("variable \"w1\" has shape [io:8, hidden:16] in the program but "
          + "[io:8, hidden:12] in checkpoint"), e.getMessage());
    }

    Program same = new Program();
    try (MeshRuntime rt = same.on("x:2", "hidden:x")) {
      Checkpointer ckpt = new Checkpointer(rt);
      NeomeshException e = assertThrows(NeomeshException.class, () -> ckpt.restore(dir, 8));
      assertTrue(e.getMessage().contains("no complete checkpoint for step 8") && e.getMessage().contains("[7]"),
          e.getMessage());

      NeomeshException missing = assertThrows(NeomeshException.class,
          () -> ckpt.restore(tmp.resolve("nowhere"), 7));
      assertTrue(missing.getMessage().contains("checkpoint directory " + tmp.resolve("nowhere") + " does not exist"),
          missing.getMessage());

      Path data = dir.resolve("ckpt-7.data-00000-of-00001");
      byte[] bytes = Files.readAllBytes(data);
      Files.write(data, java.util.Arrays.copyOf(bytes, bytes.length / 2));
      NeomeshException corrupt = assertThrows(NeomeshException.class, () -> ckpt.restore(dir, 7));
      assertTrue(corrupt.getMessage().contains("cannot restore checkpoint " + dir.resolve("ckpt-7"))
          && corrupt.getMessage().contains("Read less bytes than requested")
          && corrupt.getMessage().contains("corrupt or truncated"), corrupt.getMessage());

      Files.writeString(dir.resolve("ckpt-7.index"), "not an index");
      NeomeshException badIndex = assertThrows(NeomeshException.class, () -> ckpt.restore(dir, 7));
      assertTrue(badIndex.getMessage().contains("ckpt-7.index")
          && badIndex.getMessage().contains("DATA_LOSS"), badIndex.getMessage());

      Files.writeString(dir.resolve("ckpt-7.manifest.json"), "{ garbage");
      NeomeshException badManifest = assertThrows(NeomeshException.class, () -> Checkpoints.latest(dir));
      assertTrue(badManifest.getMessage().contains("ckpt-7.manifest.json is corrupt"), badManifest.getMessage());

      Path notADir = tmp.resolve("a-file");
      Files.writeString(notADir, "x");
      NeomeshException cannotWrite = assertThrows(NeomeshException.class, () -> ckpt.save(notADir, 1));
      assertTrue(cannotWrite.getMessage().contains("cannot create checkpoint directory " + notADir),
          cannotWrite.getMessage());
    }
  }
}
