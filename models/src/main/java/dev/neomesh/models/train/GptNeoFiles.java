package dev.neomesh.models.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * GPT-Neo's own checkpoint files in a folder: TensorFlow's estimator writes {@code model.ckpt-N.index}
 * and {@code model.ckpt-N.data-*} per saved step, and a text file {@code checkpoint} naming the latest.
 */
public final class GptNeoFiles {
  private static final Pattern INDEX = Pattern.compile("model\\.ckpt-(\\d+)\\.index");

  private GptNeoFiles() {}

  /** Whether {@code dir} holds any GPT-Neo checkpoint. */
  public static boolean present(Path dir) {
    return latest(dir).isPresent();
  }

  /** The TensorFlow prefix ({@code dir/model.ckpt-N}) of the highest step N with an index file. */
  public static Optional<Path> latest(Path dir) {
    if (!Files.isDirectory(dir)) {
      return Optional.empty();
    }
    long best = -1;
    try (Stream<Path> s = Files.list(dir)) {
      for (Path f : s.toList()) {
        Matcher m = INDEX.matcher(f.getFileName().toString());
        if (m.matches()) {
          best = Math.max(best, Long.parseLong(m.group(1)));
        }
      }
    } catch (IOException e) {
      return Optional.empty();
    }
    return best < 0 ? Optional.empty() : Optional.of(dir.resolve("model.ckpt-" + best));
  }
}
