package dev.neomesh.models.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.mesh.NeomeshException;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * The metrics of a run under {@code model_path}: {@code metrics.jsonl} (one JSON object per logged
 * step, appended across resumes; training lines hold step, loss, lr, tokens_per_sec, seconds and
 * grad_norm; evaluation lines hold {@code "eval": true} and the eval metrics) and a TensorBoard
 * event file with the same scalars.
 */
public final class MetricsLog implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final BufferedWriter jsonl;
  private final EventFileWriter events;
  private final Path file;

  public MetricsLog(Path modelPath) {
    file = modelPath.resolve("metrics.jsonl");
    try {
      Files.createDirectories(modelPath);
      jsonl = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new NeomeshException("cannot write " + file + ": " + e + ". Make model_path writable", e);
    }
    events = new EventFileWriter(modelPath);
  }

  public Path file() {
    return file;
  }

  /** Writes one line with {@code step} first, then {@code values} in order; TensorBoard gets {@code prefix/key}. */
  public void log(long step, Map<String, ?> values, String tensorboardPrefix) {
    ObjectNode o = JSON.createObjectNode();
    o.put("step", step);
    values.forEach((k, v) -> {
      if (v instanceof Number n) {
        double d = n.doubleValue();
        if (n instanceof Long || n instanceof Integer) {
          o.put(k, n.longValue());
        } else {
          o.put(k, d);
        }
        if (!k.equals("seconds")) {
          events.scalar(tensorboardPrefix + "/" + k, step, d);
        }
      } else if (v instanceof Boolean b) {
        o.put(k, b);
      } else {
        o.put(k, String.valueOf(v));
      }
    });
    try {
      jsonl.write(JSON.writeValueAsString(o));
      jsonl.write('\n');
      jsonl.flush();
    } catch (IOException e) {
      throw new NeomeshException("cannot write " + file + ": " + e, e);
    }
    events.flush();
  }

  @Override
  public void close() {
    try {
      jsonl.close();
    } catch (IOException e) {
      // already flushed per line
    }
    events.close();
  }
}
