package dev.neomesh.mesh.ckpt;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import org.tensorflow.proto.BundleEntryProto;
import org.tensorflow.proto.BundleHeaderProto;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.TensorShapeProto;

/**
 * The table of contents of any TensorFlow V2 checkpoint ({@code prefix.index}): every tensor's
 * name, dtype, full shape and whether it is stored as slices, read without TensorFlow's runtime
 * (no graph, no session), e.g. to list a GPT-Neo checkpoint before importing it, or to check what
 * a neomesh save wrote.
 *
 * <p>Written by hand because no Java library this project keeps reads TensorFlow checkpoint
 * indexes: TensorFlow Java has the protobuf classes of the entries ({@code BundleEntryProto},
 * {@code BundleHeaderProto}) but no reader of the table that holds them (its {@code RestoreV2}
 * reads values, not the list). The table is LevelDB's SSTable format, as TensorFlow's
 * {@code core/lib/io/table*.cc} and {@code core/util/tensor_bundle/tensor_bundle.cc} write it:
 * <ul>
 *   <li>a 48-byte footer: the metaindex and index block handles (varint64 offset and size each),
 *       zero padding, then the magic number {@code 0xdb4775248b80fb57} (little-endian);
 *   <li>the index block maps a key to the handle of the data block that holds it;
 *   <li>a block is prefix-compressed entries (varint32 shared key bytes, varint32 unshared, varint32
 *       value length, the key's unshared bytes, the value), then a uint32 restart array and its
 *       length; each block is followed by a 1-byte compression type and a masked CRC32C of block +
 *       type. TensorFlow writes bundles uncompressed; a snappy block is refused with a message.
 * </ul>
 * The key {@code ""} holds the {@link BundleHeaderProto}; each tensor's name holds its
 * {@link BundleEntryProto}. A tensor saved in slices (neomesh's split variables, TF1 partitioned
 * variables) has its full shape and the list of slices in that entry, and one more entry per slice
 * under a binary key starting with a zero byte (TensorFlow's {@code EncodeTensorNameSlice}), which
 * is not a tensor name and is skipped here.
 */
public final class BundleIndex {
  private static final long MAGIC = 0xdb4775248b80fb57L;
  private static final int FOOTER = 48;
  private static final int TRAILER = 5; // compression type + crc32c after every block

  /** One tensor of the checkpoint: its full (unsliced) shape, and whether its data is stored in slices. */
  public record Tensor(String name, DataType dtype, long[] shape, boolean sliced) {
    /** e.g. {@code gpt2/wte DT_BFLOAT16 [50304, 768]}. */
    @Override
    public String toString() {
      return name + " " + dtype + " " + Arrays.toString(shape) + (sliced ? " (sliced)" : "");
    }
  }

  private final Path file;
  private final BundleHeaderProto header;
  private final List<Tensor> tensors;

  private BundleIndex(Path file, BundleHeaderProto header, List<Tensor> tensors) {
    this.file = file;
    this.header = header;
    this.tensors = List.copyOf(tensors);
  }

  /**
   * Reads the index of the checkpoint at {@code prefix} ({@code /run/ckpt-10} or
   * {@code /run/model.ckpt-1000}; the {@code .index} file itself is accepted too). One
   * {@link NeomeshException} naming the file when it is missing, truncated or not an index.
   */
  public static BundleIndex read(Path prefix) {
    Path file = prefix.getFileName().toString().endsWith(".index") ? prefix
        : prefix.resolveSibling(prefix.getFileName() + ".index");
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new NeomeshException("cannot read TensorFlow checkpoint index " + file + ": " + e
          + ". Pass a checkpoint prefix (the path without .index, e.g. run/model.ckpt-1000) whose .index file exists", e);
    }
    try {
      return parse(file, bytes);
    } catch (Corrupt | InvalidProtocolBufferException e) {
      throw new NeomeshException("TensorFlow checkpoint index " + file + " is corrupt or not an index: "
          + e.getMessage().replaceAll("[.\\s]+$", "") + ". Copy the checkpoint again (the .index with its .data-* files), or use an older one", e);
    }
  }

  /** Every tensor of the checkpoint, in the index's (sorted by name) order. */
  public List<Tensor> tensors() {
    return tensors;
  }

  /** The tensor called {@code name}, or null. */
  public Tensor tensor(String name) {
    for (Tensor t : tensors) {
      if (t.name().equals(name)) {
        return t;
      }
    }
    return null;
  }

  /** How many {@code .data-NNNNN-of-MMMMM} files hold the values. */
  public int dataShards() {
    return header.getNumShards();
  }

  public Path file() {
    return file;
  }

  // ------------------------------------------------------------------------------------ parsing

  /** A reason the bytes are not an index; turned into one NeomeshException naming the file by {@link #read}. */
  private static final class Corrupt extends Exception {
    Corrupt(String message) {
      super(message);
    }
  }

  private static BundleIndex parse(Path file, byte[] b) throws Corrupt, InvalidProtocolBufferException {
    if (b.length < FOOTER) {
      throw new Corrupt("the file has " + b.length + " bytes, too short for an SSTable (its footer alone is " + FOOTER + ")");
    }
    ByteBuffer le = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    if (le.getLong(b.length - 8) != MAGIC) {
      throw new Corrupt("it does not end with the SSTable magic number 0xdb4775248b80fb57 (truncated, or another kind of file)");
    }
    Reader footer = new Reader(b, b.length - FOOTER, b.length - 8);
    footer.varint(); // metaindex handle: TensorFlow writes no filter or meta blocks that matter here
    footer.varint();
    long indexOffset = footer.varint();
    long indexSize = footer.varint();

    BundleHeaderProto header = null;
    List<Tensor> tensors = new ArrayList<>();
    for (byte[][] index : entries(b, indexOffset, indexSize, "index")) {
      Reader handle = new Reader(index[1], 0, index[1].length);
      long offset = handle.varint();
      long size = handle.varint();
      for (byte[][] kv : entries(b, offset, size, "data")) {
        byte[] key = kv[0];
        if (key.length == 0) {
          header = BundleHeaderProto.parseFrom(kv[1]);
        } else if (key[0] != 0) { // a zero first byte: one slice's entry (EncodeTensorNameSlice), not a tensor name
          BundleEntryProto e = BundleEntryProto.parseFrom(kv[1]);
          tensors.add(new Tensor(new String(key, StandardCharsets.UTF_8), e.getDtype(), sizes(e.getShape()),
              e.getSlicesCount() > 0));
        }
      }
    }
    if (header == null) {
      throw new Corrupt("it has no bundle header (the entry with the empty key): an SSTable, but not a checkpoint index");
    }
    return new BundleIndex(file, header, tensors);
  }

  private static long[] sizes(TensorShapeProto shape) {
    return shape.getDimList().stream().mapToLong(TensorShapeProto.Dim::getSize).toArray();
  }

  /** The key-value entries of the block at {@code offset} (of {@code size} bytes, trailer not counted). */
  private static List<byte[][]> entries(byte[] b, long offset, long size, String what) throws Corrupt {
    if (offset < 0 || size < 4 || offset + size + TRAILER > b.length - FOOTER) {
      throw new Corrupt("its " + what + " block handle (offset " + offset + ", " + size + " bytes) points outside the "
          + b.length + "-byte file");
    }
    int start = (int) offset;
    int end = (int) (offset + size);
    int type = b[end] & 0xff;
    if (type == 1) {
      throw new Corrupt("its " + what + " block at offset " + offset + " is snappy-compressed; TensorFlow writes "
          + "checkpoint bundles uncompressed and this reader does not decompress");
    }
    if (type != 0) {
      throw new Corrupt("its " + what + " block at offset " + offset + " has unknown compression type " + type);
    }
    CRC32C crc = new CRC32C();
    crc.update(b, start, (int) size + 1); // the block and its type byte
    int stored = ByteBuffer.wrap(b, end + 1, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
    if (unmask(stored) != (int) crc.getValue()) {
      throw new Corrupt("the checksum of its " + what + " block at offset " + offset + " does not match its bytes");
    }
    int restarts = ByteBuffer.wrap(b, end - 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
    long entriesEnd = end - 4 - 4L * restarts;
    if (restarts < 0 || entriesEnd < start) {
      throw new Corrupt("its " + what + " block at offset " + offset + " has a bad restart array (" + restarts + ")");
    }
    List<byte[][]> out = new ArrayList<>();
    Reader r = new Reader(b, start, (int) entriesEnd);
    byte[] key = new byte[0];
    while (r.pos < entriesEnd) {
      int shared = (int) r.varint();
      int unshared = (int) r.varint();
      int valueLength = (int) r.varint();
      if (shared < 0 || shared > key.length) {
        throw new Corrupt("an entry of its " + what + " block at offset " + offset + " shares " + shared
            + " bytes with a " + key.length + "-byte key");
      }
      byte[] tail = r.bytes(unshared);
      byte[] next = Arrays.copyOf(key, shared + tail.length);
      System.arraycopy(tail, 0, next, shared, tail.length);
      key = next;
      out.add(new byte[][] {key, r.bytes(valueLength)});
    }
    return out;
  }

  /** LevelDB stores CRCs masked (rotated and offset), so that a CRC of bytes holding CRCs stays well mixed. */
  private static int unmask(int masked) {
    int rot = masked - 0xa282ead8;
    return (rot >>> 17) | (rot << 15);
  }

  /** Reads varints and byte runs from {@code b[pos, end)}, refusing to run past {@code end}. */
  private static final class Reader {
    final byte[] b;
    final int end;
    int pos;

    Reader(byte[] b, int pos, int end) {
      this.b = b;
      this.pos = pos;
      this.end = end;
    }

    long varint() throws Corrupt {
      long v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= end) {
          throw new Corrupt("a varint runs past the end of its block at byte " + pos);
        }
        int x = b[pos++] & 0xff;
        v |= (long) (x & 0x7f) << shift;
        if (x < 0x80) {
          return v;
        }
      }
      throw new Corrupt("a varint longer than 10 bytes at byte " + pos);
    }

    byte[] bytes(int n) throws Corrupt {
      if (n < 0 || n > end - pos) {
        throw new Corrupt("an entry of " + n + " bytes runs past the end of its block at byte " + pos);
      }
      byte[] out = Arrays.copyOfRange(b, pos, pos + n);
      pos += n;
      return out;
    }
  }
}
