package dev.neomesh.data.tfrecord;

import dev.neomesh.data.DataException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The GPT-Neo record: a serialized {@code tf.train.Example} with one feature {@code "text"}, an
 * {@code Int64List} of token ids. Encoding and decoding are hand-written protobuf (byte-identical
 * to {@code Example.toByteArray()}, checked in the tests against {@code org.tensorflow.proto.Example})
 * because the input pipeline decodes millions of them and the generic parser allocates a boxed
 * object graph per record. The decoder accepts packed and unpacked int64 lists and skips unknown
 * fields and other features, as protobuf does.
 */
public final class TextRecord {
  public static final String FEATURE = "text";
  private static final byte[] KEY = FEATURE.getBytes(StandardCharsets.US_ASCII);

  private TextRecord() {}

  /** Serializes {@code ids} as {@code Example{features{feature{key:"text" value{int64_list{value:ids}}}}}}. */
  public static byte[] encode(int[] ids, int from, int to) {
    int packed = 0;
    for (int i = from; i < to; i++) packed += varintSize(ids[i]);
    int int64List = 1 + varintSize(packed) + packed; // field 1, packed
    int feature = 1 + varintSize(int64List) + int64List; // Feature.int64_list = 3
    int entry = 2 + KEY.length + 1 + varintSize(feature) + feature; // key=1, value=2
    int features = 1 + varintSize(entry) + entry; // Features.feature = 1 (map entry)
    int example = 1 + varintSize(features) + features; // Example.features = 1
    byte[] out = new byte[example];
    int p = 0;
    out[p++] = 0x0a;
    p = putVarint(out, p, features);
    out[p++] = 0x0a;
    p = putVarint(out, p, entry);
    out[p++] = 0x0a;
    out[p++] = (byte) KEY.length;
    System.arraycopy(KEY, 0, out, p, KEY.length);
    p += KEY.length;
    out[p++] = 0x12;
    p = putVarint(out, p, feature);
    out[p++] = 0x1a;
    p = putVarint(out, p, int64List);
    out[p++] = 0x0a;
    p = putVarint(out, p, packed);
    for (int i = from; i < to; i++) p = putVarint(out, p, ids[i]);
    assert p == out.length;
    return out;
  }

  public static byte[] encode(int[] ids) {
    return encode(ids, 0, ids.length);
  }

  /** The ids of the {@code "text"} feature; {@code file} and {@code offset} only name the record in errors. */
  public static int[] decode(byte[] data, Path file, long offset) {
    Parser p = new Parser(data, file, offset);
    int[] ids = null;
    while (p.pos < data.length) {
      int tag = p.varint32();
      if (tag == 0x0a) { // features
        int end = p.lengthEnd();
        while (p.pos < end) {
          int t = p.varint32();
          if (t == 0x0a) { // map entry
            int entryEnd = p.lengthEnd();
            boolean isText = false;
            int[] value = null;
            while (p.pos < entryEnd) {
              int et = p.varint32();
              if (et == 0x0a) {
                int keyEnd = p.lengthEnd();
                isText = Arrays.equals(data, p.pos, keyEnd, KEY, 0, KEY.length);
                p.pos = keyEnd;
              } else if (et == 0x12) {
                int featureEnd = p.lengthEnd();
                value = p.feature(featureEnd);
                p.pos = featureEnd;
              } else {
                p.skip(et);
              }
            }
            if (isText) ids = value;
          } else {
            p.skip(t);
          }
        }
      } else {
        p.skip(tag);
      }
    }
    if (ids == null) {
      throw new DataException(file + ": the record at byte offset " + offset + " has no int64 feature \""
          + FEATURE + "\"; this is not a GPT-Neo text record (make records with scripts/create_tfrecords)");
    }
    return ids;
  }

  private static final class Parser {
    final byte[] b;
    final Path file;
    final long offset;
    int pos;

    Parser(byte[] b, Path file, long offset) {
      this.b = b;
      this.file = file;
      this.offset = offset;
    }

    DataException bad(String what) {
      return new DataException(file + ": the record at byte offset " + offset + " is not a valid"
          + " tf.train.Example (" + what + "); re-create the file");
    }

    long varint() {
      long result = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= b.length) throw bad("varint runs past the end");
        byte x = b[pos++];
        result |= (long) (x & 0x7f) << shift;
        if (x >= 0) return result;
      }
      throw bad("varint longer than 10 bytes");
    }

    int varint32() {
      return (int) varint();
    }

    int lengthEnd() {
      long len = varint();
      if (len < 0 || pos + len > b.length) throw bad("length field runs past the end");
      return pos + (int) len;
    }

    void skip(int tag) {
      switch (tag & 7) {
        case 0 -> varint();
        case 1 -> pos += 8;
        case 2 -> pos = lengthEnd();
        case 5 -> pos += 4;
        default -> throw bad("unsupported wire type " + (tag & 7));
      }
      if (pos > b.length) throw bad("field runs past the end");
    }

    /** A Feature message; returns its int64 values, or throws if it holds bytes or floats. */
    int[] feature(int end) {
      int[] out = new int[0];
      while (pos < end) {
        int tag = varint32();
        if (tag == 0x1a) { // int64_list
          int listEnd = lengthEnd();
          int[] vals = new int[64];
          int n = 0;
          while (pos < listEnd) {
            int t = varint32();
            if (t == 0x0a) { // packed
              int packedEnd = lengthEnd();
              while (pos < packedEnd) {
                if (n == vals.length) vals = Arrays.copyOf(vals, n * 2);
                vals[n++] = toInt(varint());
              }
            } else if (t == 0x08) { // unpacked
              if (n == vals.length) vals = Arrays.copyOf(vals, n * 2);
              vals[n++] = toInt(varint());
            } else {
              skip(t);
            }
          }
          out = Arrays.copyOf(vals, n);
        } else if (tag == 0x0a || tag == 0x12) {
          throw bad("feature \"text\" is a " + (tag == 0x0a ? "bytes" : "float") + " list, not int64");
        } else {
          skip(tag);
        }
      }
      return out;
    }

    int toInt(long v) {
      if (v < 0 || v > Integer.MAX_VALUE) throw bad("token id " + v + " does not fit in an int");
      return (int) v;
    }
  }

  static int varintSize(int v) {
    if (v < 0) return 10;
    int n = 1;
    while ((v >>>= 7) != 0) n++;
    return n;
  }

  private static int putVarint(byte[] out, int p, int v) {
    long x = v; // negative ids become 10-byte varints, as protobuf writes int64
    while ((x & ~0x7fL) != 0) {
      out[p++] = (byte) ((x & 0x7f) | 0x80);
      x >>>= 7;
    }
    out[p++] = (byte) x;
    return p;
  }
}
