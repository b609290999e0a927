package dev.neomesh.mesh.ckpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
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
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.testing.PythonReference;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DataType;

class BundleIndexTest {
  @TempDir
  Path tmp;

  /** neomesh's dtype names (the manifest's) as TensorFlow's. */
  private static final Map<String, DataType> TF_DTYPE = Map.of("FLOAT32", DataType.DT_FLOAT,
      "BFLOAT16", DataType.DT_BFLOAT16, "FLOAT64", DataType.DT_DOUBLE, "INT32", DataType.DT_INT32,
      "INT64", DataType.DT_INT64, "BOOL", DataType.DT_BOOL);

  /** Saves a program of four variables (two dtypes) on {@code mesh}/{@code layout} as step 1 in {@code dir}. */
  private static Checkpoints.Checkpoint save(Path dir, String mesh, String layout) {
    MeshGraph g = new MeshGraph(3);
    MeshOps m = new MeshOps(g);
    Dim io = new Dim("io", 8);
    Dim h = new Dim("hidden", 12);
    m.variable("layer/w", m.randomNormal(Shape.of(io, h), DType.FLOAT32, "w", 0, 1));
    m.variable("layer/b", m.randomNormal(Shape.of(h), DType.BFLOAT16, "b", 0, 1));
    m.variable("embed", m.randomNormal(Shape.of(h, io), DType.FLOAT32, "e", 0, 1));
    m.variable("scale", m.randomNormal(Shape.SCALAR, DType.FLOAT32, "s", 0, 1));
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      return new Checkpointer(rt).save(dir, 1);
    }
  }

  private static void assertMatchesManifest(Checkpoints.Checkpoint c, BundleIndex index) {
    List<Manifest.Entry> want = c.manifest().variables();
    assertEquals(want.stream().map(Manifest.Entry::name).sorted().toList(),
        index.tensors().stream().map(BundleIndex.Tensor::name).toList(), "names, in the index's sorted order");
    for (Manifest.Entry e : want) {
      BundleIndex.Tensor t = index.tensor(e.name());
      assertArrayEquals(e.sizes(), t.shape(), e.name());
      assertEquals(TF_DTYPE.get(e.dtype()), t.dtype(), e.name());
    }
    assertEquals(c.manifest().dataShards(), index.dataShards());
  }

  @Test
  void listsNeomeshCheckpointsLikeTheirManifest() {
    // split: on x:4 with hidden:x, every variable with a hidden dim is saved as 4 slices
    Checkpoints.Checkpoint split = save(tmp.resolve("split"), "x:4", "hidden:x");
    BundleIndex index = BundleIndex.read(split.prefix());
    assertMatchesManifest(split, index);
    assertTrue(index.tensor("layer/w").sliced() && index.tensor("layer/b").sliced() && index.tensor("embed").sliced());
    assertEquals(false, index.tensor("scale").sliced(), "a replicated variable is written whole");
    assertEquals("layer/b DT_BFLOAT16 [12] (sliced)", index.tensor("layer/b").toString());

    // whole: one device, nothing split; the .index path itself is accepted too
    Checkpoints.Checkpoint whole = save(tmp.resolve("whole"), "x:1", "");
    BundleIndex wholeIndex = BundleIndex.read(whole.indexFile());
    assertMatchesManifest(whole, wholeIndex);
    assertTrue(wholeIndex.tensors().stream().noneMatch(BundleIndex.Tensor::sliced), wholeIndex.tensors().toString());

    // two axes: io split over y as well
    Checkpoints.Checkpoint twoAxes = save(tmp.resolve("two"), "x:2,y:2", "io:y,hidden:x");
    assertMatchesManifest(twoAxes, BundleIndex.read(twoAxes.prefix()));
  }

  @Test
  void listsACheckpointWrittenByTensorFlowPython() throws IOException {
    PythonReference py = PythonReference.require("tensorflow", "numpy");
    Path out = tmp.resolve("gptneo");
    int layers = 2;
    int embd = 16;
    String printed = py.run("make_gptneo_tf_checkpoint.py", Duration.ofMinutes(3), out.toString(),
        "--n_layer", "" + layers, "--n_embd", "" + embd, "--n_head", "4", "--n_ctx", "32", "--vocab", "50",
        "--padded_vocab", "64", "--seed", "7", "--step", "1234");
    assertEquals(out.resolve("model.ckpt-1234").toString(), printed.strip());
    assertTrue(Files.readString(out.resolve("checkpoint")).contains("model_checkpoint_path: \"model.ckpt-1234\""));
    assertTrue(Files.size(out.resolve("weights.json")) > 0);

    BundleIndex index = BundleIndex.read(out.resolve("model.ckpt-1234"));
    Map<String, long[]> want = new LinkedHashMap<>();
    want.put("gpt2/wte", new long[] {64, embd});
    want.put("gpt2/wpe", new long[] {32, embd});
    for (int n = 0; n < layers; n++) {
      String h = "gpt2/h" + n;
      for (String v : List.of("norm_1/g", "norm_1/b", "attn/compute_output_bias/o_b", "norm_2/g", "norm_2/b",
          "mlp/conv1d_main/c_proj/bias")) {
        want.put(h + "/" + v, new long[] {embd});
      }
      for (String v : List.of("q", "k", "v", "o")) {
        want.put(h + "/attn/" + v, new long[] {embd, embd}); // mtf's combine_dims: [d_model, heads * d_kv]
      }
      want.put(h + "/mlp/conv1d_main/c_fc/kernel", new long[] {embd, 4 * embd});
      want.put(h + "/mlp/conv1d_main/c_fc/bias", new long[] {4 * embd});
      want.put(h + "/mlp/conv1d_main/c_proj/kernel", new long[] {4 * embd, embd});
    }
    want.put("gpt2/ln_f/g", new long[] {embd});
    want.put("gpt2/ln_f/b", new long[] {embd});

    List<String> expectedNames = new ArrayList<>(List.of("global_step"));
    for (String w : want.keySet()) {
      expectedNames.addAll(List.of(w, w + "/adam_m", w + "/adam_v"));
    }
    assertEquals(expectedNames.stream().sorted().toList(), index.tensors().stream().map(BundleIndex.Tensor::name).toList());
    for (Map.Entry<String, long[]> e : want.entrySet()) {
      BundleIndex.Tensor t = index.tensor(e.getKey());
      assertNotNull(t, e.getKey());
      assertEquals(DataType.DT_BFLOAT16, t.dtype(), e.getKey());
      assertArrayEquals(e.getValue(), t.shape(), e.getKey() + " " + Arrays.toString(t.shape()));
      assertEquals(false, t.sliced(), e.getKey());
      BundleIndex.Tensor slot = index.tensor(e.getKey() + "/adam_m");
      assertEquals(DataType.DT_FLOAT, slot.dtype(), slot.name());
      assertArrayEquals(e.getValue(), slot.shape(), slot.name());
    }
    BundleIndex.Tensor step = index.tensor("global_step");
    assertEquals(DataType.DT_INT64, step.dtype());
    assertArrayEquals(new long[0], step.shape());
    assertEquals(1, index.dataShards());
  }

  @Test
  void aBrokenIndexGivesOneErrorNamingTheFile() throws IOException {
    Checkpoints.Checkpoint c = save(tmp.resolve("run"), "x:4", "hidden:x");
    byte[] good = Files.readAllBytes(c.indexFile());

    Path garbage = tmp.resolve("garbage.index");
    Files.writeString(garbage, "not an index, but long enough to hold a 48-byte footer........");
    assertBroken(garbage, "does not end with the SSTable magic number");

    Path tiny = tmp.resolve("tiny.index");
    Files.write(tiny, Arrays.copyOf(good, 20));
    assertBroken(tiny, "20 bytes, too short for an SSTable");

    Path truncated = tmp.resolve("truncated.index");
    Files.write(truncated, Arrays.copyOf(good, good.length - 30));
    assertBroken(truncated, "magic number");

    Path flipped = tmp.resolve("flipped.index");
    byte[] bad = good.clone();
    bad[10] ^= 0x40; // inside the first data block
    Files.write(flipped, bad);
    assertBroken(flipped, "checksum");

    Path missing = tmp.resolve("nowhere/ckpt-5");
    NeomeshException e = assertThrows(NeomeshException.class, () -> BundleIndex.read(missing));
    assertTrue(e.getMessage().startsWith("cannot read TensorFlow checkpoint index " + missing + ".index"),
        e.getMessage());
  }

  @Test
  void refusesSnappyCompressedBlocks() throws IOException {
    Path snappy = tmp.resolve("snappy.index");
    Files.write(snappy, table(1));
    assertBroken(snappy, "data block at offset 0 is snappy-compressed; TensorFlow writes checkpoint bundles uncompressed");
    // the same hand-made table uncompressed is read (and refused only for lacking a bundle header)
    Path plain = tmp.resolve("plain.index");
    Files.write(plain, table(0));
    assertBroken(plain, "it has no bundle header");
  }

  /**
   * A minimal SSTable as LevelDB lays it out: one data block holding {@code "a" -> ""} with
   * compression type {@code type}, an empty metaindex block, the index block, the footer.
   */
  private static byte[] table(int type) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    byte[] data = {0, 1, 0, 'a', 0, 0, 0, 0, 1, 0, 0, 0}; // shared 0, unshared 1, value 0 bytes, "a"; restarts [0], 1
    block(out, data, type);
    int metaOffset = out.size();
    byte[] meta = {0, 0, 0, 0, 1, 0, 0, 0};
    block(out, meta, 0);
    int indexOffset = out.size();
    byte[] index = {0, 1, 2, 'z', 0, (byte) data.length, 0, 0, 0, 0, 1, 0, 0, 0}; // "z" -> handle(0, size)
    block(out, index, 0);
    byte[] footer = new byte[48];
    byte[] handles = {(byte) metaOffset, (byte) meta.length, (byte) indexOffset, (byte) index.length};
    System.arraycopy(handles, 0, footer, 0, handles.length);
    java.nio.ByteBuffer.wrap(footer, 40, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0xdb4775248b80fb57L);
    out.writeBytes(footer);
    return out.toByteArray();
  }

  private static void block(java.io.ByteArrayOutputStream out, byte[] contents, int type) {
    out.writeBytes(contents);
    out.write(type);
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    crc.update(contents);
    crc.update(type);
    int c = (int) crc.getValue();
    int masked = ((c >>> 15) | (c << 17)) + 0xa282ead8;
    out.writeBytes(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(masked).array());
  }

  private static void assertBroken(Path file, String reason) {
    NeomeshException e = assertThrows(NeomeshException.class, () -> BundleIndex.read(file));
    assertTrue(e.getMessage().startsWith("TensorFlow checkpoint index " + file + " is corrupt or not an index: ")
        && e.getMessage().contains(reason), e.getMessage());
  }
}
