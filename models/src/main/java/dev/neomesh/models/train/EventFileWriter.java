package dev.neomesh.models.train;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;
import org.tensorflow.proto.Event;
import org.tensorflow.proto.Summary;

/**
 * A TensorBoard event file ({@code events.out.tfevents.<time>.<host>}) written directly: each
 * record is a serialized {@code Event} proto in TFRecord framing (length, masked CRC32C of the
 * length, data, masked CRC32C of the data). The first event carries {@code brain.Event:2}; each
 * scalar is a {@code Summary.Value} with a {@code simple_value}, which TensorBoard plots as is.
 * Written without TensorFlow ops so that logging never touches the training graph.
 */
public final class EventFileWriter implements AutoCloseable {
  private final OutputStream out;
  private final Path file;

  public EventFileWriter(Path dir) {
    try {
      Files.createDirectories(dir);
      String host;
      try {
        host = InetAddress.getLocalHost().getHostName();
      } catch (IOException e) {
        host = "localhost";
      }
      long now = System.currentTimeMillis();
      file = dir.resolve("events.out.tfevents." + now / 1000 + "." + host + "." + ProcessHandle.current().pid());
      out = Files.newOutputStream(file);
      write(Event.newBuilder().setWallTime(now / 1000.0).setFileVersion("brain.Event:2").build());
    } catch (IOException e) {
      throw new dev.neomesh.mesh.NeomeshException("cannot write TensorBoard events in " + dir + ": " + e
          + ". Make model_path writable", e);
    }
  }

  public Path file() {
    return file;
  }

  /** TensorFlow's CRC mask: {@code ((c >>> 15) | (c << 17)) + 0xa282ead8}. */
  static int maskedCrc(byte[] data, int off, int len) {
    CRC32C crc = new CRC32C();
    crc.update(data, off, len);
    int c = (int) crc.getValue();
    return ((c >>> 15) | (c << 17)) + 0xa282ead8;
  }

  private void write(Event e) throws IOException {
    byte[] data = e.toByteArray();
    ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
    header.putLong(data.length);
    header.putInt(maskedCrc(header.array(), 0, 8));
    out.write(header.array());
    out.write(data);
    ByteBuffer footer = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
    footer.putInt(maskedCrc(data, 0, data.length));
    out.write(footer.array());
  }

  /** One scalar at {@code step}. */
  public void scalar(String tag, long step, double value) {
    Summary s = Summary.newBuilder().addValue(Summary.Value.newBuilder().setTag(tag).setSimpleValue((float) value))
        .build();
    try {
      write(Event.newBuilder().setWallTime(System.currentTimeMillis() / 1000.0).setStep(step).setSummary(s).build());
    } catch (IOException e) {
      throw new dev.neomesh.mesh.NeomeshException("cannot write TensorBoard event to " + file + ": " + e, e);
    }
  }

  public void flush() {
    try {
      out.flush();
    } catch (IOException e) {
      throw new dev.neomesh.mesh.NeomeshException("cannot write TensorBoard event to " + file + ": " + e, e);
    }
  }

  @Override
  public void close() {
    try {
      out.close();
    } catch (IOException e) {
      // nothing to save at this point
    }
  }
}
