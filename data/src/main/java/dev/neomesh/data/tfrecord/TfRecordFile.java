package dev.neomesh.data.tfrecord;

import dev.neomesh.data.DataException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Reads a TFRecord file, sequentially or at a byte offset, checking both masked CRC32C sums of
 * every record read. A truncated record or a CRC mismatch is a {@link DataException} that names the
 * file and the record's byte offset. Positional reads are thread-safe, so one open file serves
 * several sampler threads.
 */
public final class TfRecordFile implements AutoCloseable {
  /** Refuse records larger than this: a garbage length field would otherwise allocate gigabytes. */
  static final long MAX_RECORD_BYTES = 1L << 30;

  private final Path path;
  private final FileChannel channel;
  private final long size;

  private TfRecordFile(Path path, FileChannel channel, long size) {
    this.path = path;
    this.channel = channel;
    this.size = size;
  }

  public static TfRecordFile open(Path path) {
    try {
      FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
      return new TfRecordFile(path, ch, ch.size());
    } catch (NoSuchFileException e) {
      throw new DataException(path + ": no such TFRecord file; check the dataset's path", e);
    } catch (IOException e) {
      throw new DataException(path + ": cannot read (" + e + "); check its permissions", e);
    }
  }

  public Path path() {
    return path;
  }

  public long size() {
    return size;
  }

  /** Length of the record's data at {@code offset}, checking the length's CRC and the file bounds. */
  public long dataLength(long offset) {
    ByteBuffer header = read(offset, 12, offset);
    long length = header.getLong(0);
    if (Crc32c.masked(header.array(), 0, 8) != header.getInt(8)) {
      throw new DataException(path + ": CRC mismatch in the length field of the record at byte offset "
          + offset + "; the file is corrupt: re-create it (rerun scripts/create_tfrecords)");
    }
    if (length < 0 || length > MAX_RECORD_BYTES || offset + 16 + length > size) {
      throw new DataException(path + ": the record at byte offset " + offset + " is truncated (it needs "
          + (16 + length) + " bytes, the file ends at byte " + size + "); the file was cut short:"
          + " re-create it (rerun scripts/create_tfrecords, which resumes)");
    }
    return length;
  }

  /** Offset of the record after the one at {@code offset}. */
  public long next(long offset) {
    return offset + 16 + dataLength(offset);
  }

  /** The data of the record at {@code offset}, CRC-checked. */
  public byte[] readAt(long offset) {
    long length = dataLength(offset);
    ByteBuffer body = read(offset + 12, (int) length + 4, offset);
    if (Crc32c.masked(body.array(), 0, (int) length) != body.getInt((int) length)) {
      throw new DataException(path + ": CRC mismatch in the data of the record at byte offset " + offset
          + "; the file is corrupt: re-create it (rerun scripts/create_tfrecords)");
    }
    return Arrays.copyOf(body.array(), (int) length);
  }

  /** Byte offsets of every record, reading only the 12-byte headers (no data CRC check). */
  public long[] offsets() {
    long[] out = new long[16];
    int n = 0;
    for (long off = 0; off < size; off = next(off)) {
      if (n == out.length) out = Arrays.copyOf(out, n * 2);
      out[n++] = off;
    }
    return Arrays.copyOf(out, n);
  }

  /** One record and where it starts. */
  public record Entry(long offset, byte[] data) {}

  /** Every record in order, each CRC-checked as it is read. */
  public Iterator<Entry> iterator() {
    return new Iterator<>() {
      long offset = 0;

      @Override
      public boolean hasNext() {
        return offset < size;
      }

      @Override
      public Entry next() {
        if (!hasNext()) throw new NoSuchElementException();
        long at = offset;
        byte[] data = readAt(at);
        offset = at + 16 + data.length;
        return new Entry(at, data);
      }
    };
  }

  private ByteBuffer read(long position, int length, long recordOffset) {
    if (position + length > size) {
      throw new DataException(path + ": the record at byte offset " + recordOffset + " is truncated (the file"
          + " ends at byte " + size + "); the file was cut short: re-create it (rerun"
          + " scripts/create_tfrecords, which resumes)");
    }
    ByteBuffer buf = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
    try {
      while (buf.hasRemaining()) {
        int r = channel.read(buf, position + buf.position());
        if (r < 0) {
          throw new DataException(path + ": the record at byte offset " + recordOffset
              + " is truncated (unexpected end of file); re-create the file");
        }
      }
    } catch (IOException e) {
      throw new DataException(path + ": read failed at byte offset " + position + " (" + e + ")", e);
    }
    return buf;
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException ignored) {
      // read-only channel: nothing to lose
    }
  }
}
