package dev.neomesh.models.interop;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * HuggingFace's safetensors file: 8 bytes little-endian header length N, N bytes of JSON
 * ({@code {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__":
 * {..}}}, offsets relative to the data that follows), then the tensors' little-endian bytes in C
 * order, tiling the data from 0 without gaps.
 *
 * <p>Written by hand because no kept Java library reads or writes it without an NDArray engine:
 * DJL's codec needs a native engine (PyTorch's) to hold the arrays, far more than this
 * 8-byte-length-plus-JSON format. The reader checks what a damaged file breaks (header length,
 * JSON, offsets that tile the data, a file shorter than its header says) and names the file; the
 * writer streams one tensor at a time (the header is written first from the declared shapes), to a
 * temporary file renamed into place when complete.
 */
public final class Safetensors {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String METADATA = "__metadata__";
  /** A header this large is not a safetensors file (the reference implementation's limit is 100 MB). */
  private static final long MAX_HEADER = 100L << 20;

  private Safetensors() {}

  /** One stored tensor: dtype as safetensors spells it ({@code F32}, {@code BF16}, ...), shape, byte range. */
  public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    public long elements() {
      return Safetensors.elements(shape);
    }

    public String shapeText() {
      return Arrays.toString(shape);
    }
  }

  static long elements(long[] shape) {
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    return n;
  }

  /** Bytes per element of the dtypes {@link Reader#floats} converts. */
  private static int width(String dtype) {
    return switch (dtype) {
      case "F64" -> 8;
      case "F32" -> 4;
      case "F16", "BF16" -> 2;
      default -> -1;
    };
  }

  // ------------------------------------------------------------------------------------ reading

  /** An open safetensors file; {@link #floats} reads one tensor at a time. */
  public static final class Reader implements AutoCloseable {
    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private Reader(Path file, FileChannel channel, long dataStart, Map<String, Entry> entries,
        Map<String, String> metadata) {
      this.file = file;
      this.channel = channel;
      this.dataStart = dataStart;
      this.entries = entries;
      this.metadata = metadata;
    }

    /** The tensors in file order. */
    public Map<String, Entry> entries() {
      return entries;
    }

    public Map<String, String> metadata() {
      return metadata;
    }

    public Path file() {
      return file;
    }

    /** Tensor {@code name} as float32 values in C order (F64, F32, F16 and BF16 are converted). */
    public float[] floats(String name) {
      Entry e = entries.get(name);
      if (e == null) {
        throw new NeomeshException(file + " has no tensor \"" + name + "\"");
      }
      int w = width(e.dtype());
      if (w < 0) {
        throw new NeomeshException("tensor \"" + name + "\" in " + file + " is " + e.dtype()
            + ", not a floating-point type (F64, F32, F16, BF16): weights must be floating point");
      }
      long n = e.elements();
      if (n > Integer.MAX_VALUE - 8) {
        throw new NeomeshException("tensor \"" + name + "\" in " + file + " has " + n + " elements, more than a "
            + "Java array holds");
      }
      ByteBuffer buf = ByteBuffer.allocate((int) (e.end() - e.begin())).order(ByteOrder.LITTLE_ENDIAN);
      try {
        long pos = dataStart + e.begin();
        while (buf.hasRemaining()) {
          int r = channel.read(buf, pos);
          if (r < 0) {
            throw new NeomeshException(file + " ends inside tensor \"" + name + "\": the file is truncated; "
                + "download or export it again");
          }
          pos += r;
        }
      } catch (IOException ex) {
        throw new NeomeshException("cannot read tensor \"" + name + "\" from " + file + ": " + ex, ex);
      }
      buf.flip();
      float[] out = new float[(int) n];
      switch (e.dtype()) {
        case "F64" -> {
          for (int i = 0; i < out.length; i++) {
            out[i] = (float) buf.getDouble();
          }
        }
        case "F32" -> buf.asFloatBuffer().get(out);
        case "BF16" -> {
          for (int i = 0; i < out.length; i++) {
            out[i] = Float.intBitsToFloat((buf.getShort() & 0xffff) << 16);
          }
        }
        default -> { // F16
          for (int i = 0; i < out.length; i++) {
            out[i] = halfToFloat(buf.getShort());
          }
        }
      }
      return out;
    }

    @Override
    public void close() {
      try {
        channel.close();
      } catch (IOException e) {
        // read-only: nothing is lost
      }
    }
  }

  /** Opens {@code file} and checks its header; a clear error naming the file when it is not valid safetensors. */
  public static Reader open(Path file) {
    FileChannel ch = null;
    try {
      ch = FileChannel.open(file, StandardOpenOption.READ);
      long size = ch.size();
      String bad = file + " is not a valid safetensors file: ";
      if (size < 8) {
        throw new NeomeshException(bad + "it has " + size + " bytes, fewer than the 8-byte header length");
      }
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, len, 0);
      long n = len.flip().getLong();
      if (n <= 0 || n > MAX_HEADER || 8 + n > size) {
        throw new NeomeshException(bad + "its header length " + n + " does not fit the file's " + size
            + " bytes (truncated, or another format)");
      }
      ByteBuffer header = ByteBuffer.allocate((int) n);
      readFully(ch, header, 8);
      JsonNode root;
      try {
        root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
      } catch (JsonProcessingException e) {
        throw new NeomeshException(bad + "its header is not JSON (" + e.getOriginalMessage() + ")");
      }
      if (root == null || !root.isObject()) {
        throw new NeomeshException(bad + "its header is not a JSON object");
      }
      Map<String, String> metadata = new LinkedHashMap<>();
      List<Entry> list = new ArrayList<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> f = it.next();
        if (f.getKey().equals(METADATA)) {
          f.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
          continue;
        }
        list.add(entry(bad, f.getKey(), f.getValue()));
      }
      list.sort((a, b) -> Long.compare(a.begin(), b.begin()));
      long dataSize = size - 8 - n;
      long expected = 0;
      Map<String, Entry> entries = new LinkedHashMap<>();
      for (Entry e : list) {
        if (e.begin() != expected) {
          throw new NeomeshException(bad + "tensor \"" + e.name() + "\" starts at byte " + e.begin() + " of the data, "
              + "not at " + expected + " (the tensors must tile the data without gaps or overlaps)");
        }
        int w = width(e.dtype());
        if (w > 0 && e.end() - e.begin() != e.elements() * w) {
          throw new NeomeshException(bad + "tensor \"" + e.name() + "\" " + e.dtype() + e.shapeText() + " needs "
              + e.elements() * w + " bytes but its offsets give " + (e.end() - e.begin()));
        }
        expected = e.end();
        entries.put(e.name(), e);
      }
      if (expected > dataSize) {
        throw new NeomeshException(file + " is truncated: its header describes " + expected + " bytes of tensors "
            + "but only " + dataSize + " follow it; download or export it again");
      }
      Reader r = new Reader(file, ch, 8 + n, entries, metadata);
      ch = null;
      return r;
    } catch (IOException e) {
      throw new NeomeshException("cannot read " + file + ": " + e, e);
    } finally {
      if (ch != null) {
        try {
          ch.close();
        } catch (IOException e) {
          // already failing
        }
      }
    }
  }

  private static Entry entry(String bad, String name, JsonNode v) {
    JsonNode dtype = v.get("dtype");
    JsonNode shape = v.get("shape");
    JsonNode offsets = v.get("data_offsets");
    if (dtype == null || !dtype.isTextual() || shape == null || !shape.isArray() || offsets == null
        || !offsets.isArray() || offsets.size() != 2) {
      throw new NeomeshException(bad + "tensor \"" + name + "\" lacks dtype, shape or data_offsets [begin, end]");
    }
    long[] dims = new long[shape.size()];
    for (int i = 0; i < dims.length; i++) {
      dims[i] = shape.get(i).asLong(-1);
      if (dims[i] < 0) {
        throw new NeomeshException(bad + "tensor \"" + name + "\" has shape " + shape);
      }
    }
    long begin = offsets.get(0).asLong(-1);
    long end = offsets.get(1).asLong(-1);
    if (begin < 0 || end < begin) {
      throw new NeomeshException(bad + "tensor \"" + name + "\" has data_offsets " + offsets);
    }
    return new Entry(name, dtype.asText(), dims, begin, end);
  }

  /** IEEE 754 half precision to float (Java 17 lacks {@code Float.float16ToFloat}, added in Java 20). */
  static float halfToFloat(short h) {
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | mant << 13); // inf or NaN
    }
    if (exp == 0) { // zero or subnormal: mant * 2^-24
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | (exp + 112) << 23 | mant << 13);
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int r = ch.read(buf, pos);
      if (r < 0) {
        throw new IOException("unexpected end of file");
      }
      pos += r;
    }
  }

  // ------------------------------------------------------------------------------------ writing

  /**
   * Writes float32 tensors, declared up front (name and shape, in file order) so the header goes
   * first; {@link #write} then takes each tensor's values in that order, and {@link #close} renames
   * the complete file into place. A writer closed before every tensor was written deletes its
   * temporary file and leaves nothing at the target.
   */
  public static final class Writer implements AutoCloseable {
    private final Path target;
    private final Path tmp;
    private final OutputStream out;
    private final List<Entry> declared;
    private int next;

    private Writer(Path target, Path tmp, OutputStream out, List<Entry> declared) {
      this.target = target;
      this.tmp = tmp;
      this.out = out;
      this.declared = declared;
    }

    /** The values of the next declared tensor, in C order. */
    public void write(String name, float[] values) {
      if (next >= declared.size() || !declared.get(next).name().equals(name)) {
        throw new IllegalStateException("expected tensor " + (next < declared.size() ? declared.get(next).name()
            : "(none: all written)") + ", got " + name);
      }
      Entry e = declared.get(next);
      if (values.length != e.elements()) {
        throw new IllegalArgumentException(name + e.shapeText() + " needs " + e.elements() + " values, got "
            + values.length);
      }
      ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      buf.asFloatBuffer().put(values);
      try {
        out.write(buf.array());
      } catch (IOException ex) {
        throw new NeomeshException("cannot write " + tmp + ": " + ex + "; check the disk has space", ex);
      }
      next++;
    }

    @Override
    public void close() {
      boolean complete = next == declared.size();
      try {
        out.close();
        if (complete) {
          Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } else {
          Files.deleteIfExists(tmp);
        }
      } catch (IOException ex) {
        throw new NeomeshException("cannot finish " + target + ": " + ex + "; check the folder is writable", ex);
      }
    }
  }

  /** Starts writing float32 tensors {@code shapes} (name to shape, in file order) with string {@code metadata}. */
  public static Writer create(Path target, Map<String, long[]> shapes, Map<String, String> metadata) {
    ObjectNode header = JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode m = header.putObject(METADATA);
      metadata.forEach(m::put);
    }
    List<Entry> declared = new ArrayList<>();
    long offset = 0;
    for (Map.Entry<String, long[]> s : shapes.entrySet()) {
      Entry e = new Entry(s.getKey(), "F32", s.getValue(), offset, offset + 4 * elements(s.getValue()));
      ObjectNode t = header.putObject(e.name());
      t.put("dtype", "F32");
      var shape = t.putArray("shape");
      for (long d : e.shape()) {
        shape.add(d);
      }
      t.putArray("data_offsets").add(e.begin()).add(e.end());
      declared.add(e);
      offset = e.end();
    }
    byte[] json;
    try {
      json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    int padded = (json.length + 7) / 8 * 8; // the reference writer pads with spaces to 8 bytes
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
    try {
      Files.createDirectories(target.toAbsolutePath().getParent());
      OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20);
      out.write(head.array());
      return new Writer(target, tmp, out, declared);
    } catch (IOException e) {
      throw new NeomeshException("cannot write " + target + ": " + e + "; choose a writable folder", e);
    }
  }
}
