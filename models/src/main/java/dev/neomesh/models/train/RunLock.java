package dev.neomesh.models.train;

import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * One writing command per {@code model_path} at a time: an OS file lock on
 * {@code model_path/}{@value #FILE}, held while a run trains or samples into the folder and
 * released when it ends (also when its process is killed: the OS drops the lock). The file names
 * the holder (process id, what it does, since when) so the refusal can say who. Reading commands
 * ({@code --eval}, {@code --score}, {@code --export_hf}) do not take it: a checkpoint is complete
 * exactly when its manifest exists, so they can read while a run trains.
 */
public final class RunLock implements AutoCloseable {
  public static final String FILE = ".neomesh-lock";

  private final FileChannel channel;
  private final FileLock lock;

  private RunLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  /** Takes the lock of {@code modelPath} (created if missing) for {@code what}, or refuses naming the holder. */
  public static RunLock acquire(Path modelPath, String what) {
    Path file = modelPath.resolve(FILE);
    FileChannel ch = null;
    try {
      Files.createDirectories(modelPath);
      ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = ch.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null; // this JVM holds it already
      }
      if (lock == null) {
        String holder = Files.readString(file, StandardCharsets.UTF_8).trim();
        ch.close();
        throw new NeomeshException("model_path " + modelPath + " is in use by another neomesh run (" + (holder.isEmpty()
            ? "holder unknown" : holder) + "): wait for it to end, stop it, or give this run another model_path "
            + "(--set model_path=DIR)");
      }
      ch.truncate(0);
      ch.write(ByteBuffer.wrap(("process " + ProcessHandle.current().pid() + ", " + what + ", since " + Instant.now())
          .getBytes(StandardCharsets.UTF_8)), 0);
      return new RunLock(ch, lock);
    } catch (IOException e) {
      try {
        if (ch != null) {
          ch.close();
        }
      } catch (IOException ignored) {
        // the first error is the one to report
      }
      throw new NeomeshException("cannot lock model_path " + modelPath + " (" + file + "): " + e.getMessage()
          + "; make the folder writable, or choose another model_path", e);
    }
  }

  @Override
  public void close() {
    try {
      lock.release();
      channel.close();
    } catch (IOException e) {
      // the lock goes with the process anyway
    }
  }
}
