package dev.neomesh.models.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors reader and writer on the format's own test vector, round trips and damaged files. */
class SafetensorsTest {
  @TempDir
  Path dir;

  @Test
  void writesTheReferenceTestVector() throws IOException {
    Path f = dir.resolve("t.safetensors");
    try (Safetensors.Writer w = Safetensors.create(f, Map.of("attn.0", new long[] {1, 2, 3}), Map.of())) {
      w.write("attn.0", new float[] {0, 1, 2, 3, 4, 5});
    }
    byte[] b = Files.readAllBytes(f);
    long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertEquals(64, n); // the safetensors README's vector: this header is 64 bytes once padded
    assertEquals("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}",
        new String(b, 8, (int) n, StandardCharsets.UTF_8).trim());
    assertEquals(8 + 64 + 24, b.length);
  }

  @Test
  void roundTripsTensorsAndMetadataInOrder() {
    Path f = dir.resolve("m.safetensors");
    Map<String, long[]> shapes = new LinkedHashMap<>();
    shapes.put("b", new long[] {3});
    shapes.put("a", new long[] {2, 2});
    shapes.put("scalar", new long[] {});
    try (Safetensors.Writer w = Safetensors.create(f, shapes, Map.of("format", "pt"))) {
      w.write("b", new float[] {1.5f, -2, 3});
      w.write("a", new float[] {1, 2, 3, 4});
      w.write("scalar", new float[] {7});
    }
    try (Safetensors.Reader r = Safetensors.open(f)) {
      assertEquals(java.util.List.of("b", "a", "scalar"), java.util.List.copyOf(r.entries().keySet()));
      assertEquals("pt", r.metadata().get("format"));
      assertArrayEquals(new float[] {1.5f, -2, 3}, r.floats("b"));
      assertArrayEquals(new float[] {1, 2, 3, 4}, r.floats("a"));
      assertArrayEquals(new long[] {2, 2}, r.entries().get("a").shape());
      assertArrayEquals(new float[] {7}, r.floats("scalar"));
    }
  }

  @Test
  void anUnfinishedWriteLeavesNoFile() {
    Path f = dir.resolve("x.safetensors");
    Map<String, long[]> shapes = new LinkedHashMap<>();
    shapes.put("a", new long[] {2});
    shapes.put("b", new long[] {2});
    Safetensors.Writer w = Safetensors.create(f, shapes, Map.of());
    w.write("a", new float[] {1, 2});
    w.close();
    assertFalse(Files.exists(f));
    try (var s = Files.list(dir)) {
      assertEquals(0, s.count(), "the temporary file is removed");
    }
    catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void readsHalfAndBfloat16() throws IOException {
    // 1.0, -2.5 and 65504 (the largest half) in F16; 1.0 and -0.15625 in BF16
    String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]}}";
    ByteBuffer buf = ByteBuffer.allocate(8 + header.length() + 10).order(ByteOrder.LITTLE_ENDIAN);
    buf.putLong(header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
    buf.putShort((short) 0x3c00).putShort((short) 0xc100).putShort((short) 0x7bff);
    buf.putShort((short) 0x3f80).putShort((short) 0xbe20);
    Path f = dir.resolve("h.safetensors");
    Files.write(f, buf.array());
    try (Safetensors.Reader r = Safetensors.open(f)) {
      assertArrayEquals(new float[] {1f, -2.5f, 65504f}, r.floats("h"));
      assertArrayEquals(new float[] {1f, -0.15625f}, r.floats("b"));
    }
  }

  @Test
  void damagedFilesGetOneClearMessage() throws IOException {
    Path good = dir.resolve("g.safetensors");
    try (Safetensors.Writer w = Safetensors.create(good, Map.of("a", new long[] {4}), Map.of())) {
      w.write("a", new float[] {1, 2, 3, 4});
    }
    byte[] b = Files.readAllBytes(good);
    Path truncated = dir.resolve("truncated.safetensors");
    Files.write(truncated, Arrays.copyOf(b, b.length - 3));
    NeomeshException e = assertThrows(NeomeshException.class, () -> Safetensors.open(truncated));
    assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("truncated.safetensors"), e.getMessage());

    Path text = dir.resolve("text.safetensors");
    Files.writeString(text, "this is not a safetensors file at all");
    e = assertThrows(NeomeshException.class, () -> Safetensors.open(text));
    assertTrue(e.getMessage().contains("not a valid safetensors file"), e.getMessage());

    Path gap = dir.resolve("gap.safetensors");
    String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    ByteBuffer buf = ByteBuffer.allocate(8 + header.length() + 8).order(ByteOrder.LITTLE_ENDIAN);
    buf.putLong(header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
    Files.write(gap, buf.array());
    e = assertThrows(NeomeshException.class, () -> Safetensors.open(gap));
    assertTrue(e.getMessage().contains("without gaps"), e.getMessage());
  }
}
