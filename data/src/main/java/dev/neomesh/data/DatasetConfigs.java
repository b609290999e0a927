package dev.neomesh.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Reads dataset configs strictly: the keys GPT-Neo reads ({@code n_vocab}, {@code path},
 * {@code eval_path}, {@code tokenizer_path}, {@code tokenizer_is_pretrained}, {@code eos_id},
 * {@code padding_id}, {@code lambada_tokens_path}) and neomesh's {@code format} ({@code "tfrecords"},
 * the default, or {@code "hdf5"}); anything else is an error naming the closest known key, so a typo
 * such as {@code eos_idd} does not silently fall back to a default.
 */
public final class DatasetConfigs {
  public static final List<String> KEYS = List.of("n_vocab", "path", "eval_path", "tokenizer_path",
      "tokenizer_is_pretrained", "eos_id", "padding_id", "lambada_tokens_path", "format");
  private static final ObjectMapper JSON = new ObjectMapper();

  private DatasetConfigs() {}

  /** {@code folder/<id>.json}, or {@code id} itself when it is a path ending in {@code .json}. */
  public static DatasetConfig load(Path folder, String id) {
    Path file = id.endsWith(".json") ? Path.of(id) : folder.resolve(id + ".json");
    if (!Files.isRegularFile(file)) {
      List<String> known = new ArrayList<>();
      if (Files.isDirectory(folder)) {
        list(folder).forEach(p -> known.add(p.getFileName().toString().replaceFirst("\\.json$", "")));
      }
      throw new DataException(file + ": no such dataset config" + (known.isEmpty() ? "" : " (known in " + folder
          + ": " + String.join(", ", known) + ")") + "; add " + file.getFileName() + " or fix the dataset id");
    }
    return load(file);
  }

  /** Every {@code *.json} in {@code folder}, sorted by id. */
  public static List<DatasetConfig> loadAll(Path folder) {
    return list(folder).stream().map(DatasetConfigs::load).toList();
  }

  private static List<Path> list(Path folder) {
    try (Stream<Path> s = Files.list(folder)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
    } catch (IOException e) {
      throw new DataException(folder + ": cannot list dataset configs (" + e.getMessage() + ")", e);
    }
  }

  public static DatasetConfig load(Path file) {
    JsonNode j;
    try {
      j = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new DataException(file + ": not valid JSON (" + e.getMessage().lines().findFirst().orElse("")
          + "); fix the dataset config", e);
    }
    if (j == null || !j.isObject()) throw new DataException(file + ": a dataset config must be a JSON object");
    for (Iterator<Map.Entry<String, JsonNode>> it = j.fields(); it.hasNext(); ) {
      String k = it.next().getKey();
      if (!KEYS.contains(k)) {
        throw new DataException(file + ": unknown key \"" + k + "\"; did you mean \"" + closest(k, KEYS)
            + "\"? (dataset config keys: " + String.join(", ", KEYS) + ")");
      }
    }
    String id = file.getFileName().toString().replaceFirst("\\.json$", "");
    int nVocab = integer(j, "n_vocab", file, null);
    if (nVocab < 1) throw new DataException(file + ": n_vocab " + nVocab + " must be positive");
    String format = text(j, "format", file, DatasetConfig.TFRECORDS); // checked by DatasetConfig
    String path = text(j, "path", file, null);
    if (path == null || path.isBlank()) {
      throw new DataException(file + ": \"path\" is required (" + (format.equals(DatasetConfig.HDF5)
          ? "a glob of .h5 files in Cerebras' layout, data[n, 3, max_sequence_length]"
          : "a glob of .tfrecords files made by scripts/create_tfrecords") + ")");
    }
    JsonNode pre = j.get("tokenizer_is_pretrained");
    if (pre != null && !pre.isBoolean()) {
      throw new DataException(file + ": tokenizer_is_pretrained must be true or false, not " + pre);
    }
    return new DatasetConfig(id, file, nVocab, path, text(j, "eval_path", file, ""),
        text(j, "tokenizer_path", file, null), pre != null && pre.asBoolean(),
        integer(j, "eos_id", file, 1), integer(j, "padding_id", file, 0),
        text(j, "lambada_tokens_path", file, "./lambada.json"), format);
  }

  private static int integer(JsonNode j, String key, Path file, Integer dflt) {
    JsonNode v = j.get(key);
    if (v == null || v.isNull()) {
      if (dflt == null) throw new DataException(file + ": \"" + key + "\" is required (an integer)");
      return dflt;
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber()) {
      throw new DataException(file + ": \"" + key + "\" must be an integer, not " + v);
    }
    return v.asInt();
  }

  private static String text(JsonNode j, String key, Path file, String dflt) {
    JsonNode v = j.get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isTextual()) throw new DataException(file + ": \"" + key + "\" must be a string, not " + v);
    return v.asText();
  }

  /** The candidate with the smallest edit distance to {@code key}. */
  public static String closest(String key, List<String> candidates) {
    String best = candidates.get(0);
    int bestD = Integer.MAX_VALUE;
    for (String c : candidates) {
      int d = distance(key, c);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    return best;
  }

  static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) prev[j] = j;
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
