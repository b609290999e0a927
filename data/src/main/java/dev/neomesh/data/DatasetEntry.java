package dev.neomesh.data;

import java.util.List;
import java.util.Set;

/**
 * One element of a model config's {@code datasets}: {@code [id, stitch, mode, weight]} or {@code [id]}.
 * Modes: {@code documents_random} (stitch {@code stitch} records with EOS between them and take a
 * random window of n_ctx+1), {@code documents_fixed} (the same, window at the start), {@code chunks}
 * (records as they are, cut to n_ctx+1). {@code [id]} alone means chunks with weight 1, which is what
 * GPT-Neo's default sequential input does with it.
 */
public record DatasetEntry(String id, int stitch, String mode, double weight) {
  public static final String DOCUMENTS_RANDOM = "documents_random";
  public static final String DOCUMENTS_FIXED = "documents_fixed";
  public static final String CHUNKS = "chunks";
  public static final Set<String> MODES = Set.of(DOCUMENTS_RANDOM, DOCUMENTS_FIXED, CHUNKS);

  public DatasetEntry {
    if (id == null || id.isBlank()) throw new DataException("datasets: an entry has no dataset id");
    if (!MODES.contains(mode)) {
      throw new DataException("datasets: entry " + id + " has mode \"" + mode + "\"; use one of "
          + String.join(", ", List.of(DOCUMENTS_RANDOM, DOCUMENTS_FIXED, CHUNKS)));
    }
    if (stitch < 1) throw new DataException("datasets: entry " + id + " has stitch " + stitch + "; use 1 or more");
    if (!(weight > 0) || Double.isInfinite(weight)) {
      throw new DataException("datasets: entry " + id + " has weight " + weight + "; use a positive number");
    }
  }

  public static DatasetEntry of(String id) {
    return new DatasetEntry(id, 1, CHUNKS, 1.0);
  }

  /** From the JSON-like list {@code [id]} or {@code [id, stitch, mode, weight]} (or a bare id). */
  public static DatasetEntry parse(Object value) {
    if (value instanceof String s) return of(s);
    if (value instanceof List<?> l && (l.size() == 1 || l.size() == 4) && l.get(0) instanceof String id) {
      if (l.size() == 1) return of(id);
      if (l.get(1) instanceof Number st && l.get(2) instanceof String mode && l.get(3) instanceof Number w) {
        return new DatasetEntry(id, st.intValue(), mode, w.doubleValue());
      }
    }
    throw new DataException("datasets: entry " + value + " is not [id] or [id, stitch, mode, weight]"
        + " (e.g. [\"openwebtext\", 25, \"documents_random\", 1.0])");
  }
}
