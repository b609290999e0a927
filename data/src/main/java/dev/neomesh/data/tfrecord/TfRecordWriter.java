package dev.neomesh.data.tfrecord;

import dev.neomesh.data.DataException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes TFRecord files: each record is {@code uint64 length, uint32 masked_crc32c(length), data,
 * uint32 masked_crc32c(data)}, little-endian, exactly as TensorFlow's {@code TFRecordWriter} does
 * (uncompressed). {@link #close()} flushes and forces the file to disk.
 */
public final class TfRecordWriter implements AutoCloseable {
  private final Path path;
  private final OutputStream out;
  private final java.io.FileOutputStream file;
  private final ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
  private final ByteBuffer footer = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
  private long records;

  public TfRecordWriter(Path path) {
    this.path = path;
    try {
      Path parent = path.toAbsolutePath().getParent();
      if (parent != null) Files.createDirectories(parent);
      this.file = new java.io.FileOutputStream(path.toFile());
    } catch (IOException e) {
      throw new DataException(path + ": cannot create the file (" + e.getMessage()
          + "); check that the folder is writable", e);
    }
    this.out = new BufferedOutputStream(file, 1 << 16);
  }

  /** Appends one record holding {@code data}. */
  public void write(byte[] data) {
    header.clear();
    header.putLong(data.length);
    header.putInt(Crc32c.masked(header.array(), 0, 8));
    footer.clear();
    footer.putInt(Crc32c.masked(data, 0, data.length));
    try {
      out.write(header.array(), 0, 12);
      out.write(data);
      out.write(footer.array(), 0, 4);
    } catch (IOException e) {
      throw new DataException(path + ": write failed (" + e.getMessage() + "); is the disk full?", e);
    }
    records++;
  }

  public long records() {
    return records;
  }

  public Path path() {
    return path;
  }

  @Override
  public void close() {
    try {
      out.flush();
      file.getFD().sync();
      out.close();
    } catch (IOException e) {
      throw new DataException(path + ": write failed on close (" + e.getMessage() + ")", e);
    }
  }
}
