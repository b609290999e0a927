package dev.neomesh.data.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.data.DataException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.regex.Matcher;

/**
 * Trains a byte-level BPE the way GPT-Neo's {@code train_tokenizer.py} does with HuggingFace
 * tokenizers (NFKC, add_prefix_space, min_frequency 2, specials {@code <|endoftext|>} = 0 and
 * {@code <|padding|>} = 1, then the 256 byte characters in code-point order, then merges) and writes a
 * {@code tokenizer.json} that {@link ByteLevelBpeTokenizer} and HuggingFace both load. Counting is
 * incremental: each merge updates only the pair counts of the words that contain the merged pair
 * (found through a pair-to-words index), and a lazily corrected priority queue picks the next pair,
 * so training costs about the corpus's word count plus the words each merge touches.
 */
public final class ByteLevelBpeTrainer {
  public static final String FILE_NAME = "byte-level-bpe.tokenizer.json";

  private final int vocabSize;
  private final int minFrequency;
  private final List<String> specials = List.of(ByteLevelBpeTokenizer.EOS_TOKEN, ByteLevelBpeTokenizer.PADDING_TOKEN);
  private final Map<String, long[]> wordCounts = new HashMap<>();
  private final java.util.function.UnaryOperator<String> nfkc = ByteLevel.normalizer("NFKC");

  public ByteLevelBpeTrainer(int vocabSize, int minFrequency) {
    if (vocabSize < 258) {
      throw new DataException("--vocab_size " + vocabSize + " is too small: a byte-level BPE needs at least 258"
          + " ids (2 special tokens + 256 bytes)");
    }
    this.vocabSize = vocabSize;
    this.minFrequency = minFrequency;
  }

  /** Adds one document's words to the counts. */
  public void add(String document) {
    String text = nfkc.apply(document);
    if (!text.startsWith(" ")) text = " " + text;
    Matcher m = ByteLevel.GPT2_SPLIT.matcher(text);
    while (m.find()) wordCounts.computeIfAbsent(ByteLevel.toByteChars(m.group()), k -> new long[1])[0]++;
  }

  /** Result of training: the vocabulary in id order and the merges in rank order. */
  public record Model(List<String> vocab, List<String[]> merges) {}

  public Model train() {
    List<String> vocab = new ArrayList<>(specials);
    Map<String, Integer> ids = new HashMap<>();
    for (int i = 0; i < vocab.size(); i++) ids.put(vocab.get(i), i);
    char[] alphabet = ByteLevel.BYTE_TO_CHAR.clone();
    java.util.Arrays.sort(alphabet);
    for (char c : alphabet) {
      ids.put(String.valueOf(c), vocab.size());
      vocab.add(String.valueOf(c));
    }
    // Words as symbol-id arrays with their counts.
    int nWords = wordCounts.size();
    int[][] words = new int[nWords][];
    long[] counts = new long[nWords];
    int w = 0;
    for (Map.Entry<String, long[]> e : wordCounts.entrySet()) {
      String s = e.getKey();
      int[] sym = new int[s.length()];
      for (int i = 0; i < sym.length; i++) sym[i] = ids.get(String.valueOf(s.charAt(i)));
      words[w] = sym;
      counts[w++] = e.getValue()[0];
    }
    PairMap pairCounts = new PairMap(1 << 16);
    Map<Long, int[]> where = new HashMap<>(); // pair -> word indices (may hold stale ones); [0] = size
    for (int i = 0; i < nWords; i++) {
      int[] sym = words[i];
      for (int k = 0; k + 1 < sym.length; k++) {
        long key = PairMap.key(sym[k], sym[k + 1]);
        pairCounts.add(key, counts[i]);
        addWhere(where, key, i);
      }
    }
    PriorityQueue<long[]> queue = new PriorityQueue<>((x, y) -> x[0] != y[0] ? Long.compare(y[0], x[0]) : Long.compare(x[1], y[1]));
    for (Long key : where.keySet()) queue.add(new long[] {pairCounts.get(key, 0), key});
    List<String[]> merges = new ArrayList<>();
    int[] visited = new int[nWords];
    java.util.Arrays.fill(visited, -1);
    java.util.Set<Long> grown = new java.util.HashSet<>();
    while (vocab.size() < vocabSize && !queue.isEmpty()) {
      long[] top = queue.poll();
      long key = top[1];
      long actual = pairCounts.get(key, 0);
      if (actual != top[0]) {
        if (actual > 0) queue.add(new long[] {actual, key});
        continue;
      }
      if (actual < minFrequency) break;
      int a = PairMap.first(key);
      int b = PairMap.second(key);
      String token = vocab.get(a) + vocab.get(b);
      Integer existing = ids.get(token);
      int merged;
      if (existing != null) {
        merged = existing;
      } else {
        merged = vocab.size();
        vocab.add(token);
        ids.put(token, merged);
      }
      merges.add(new String[] {vocab.get(a), vocab.get(b)});
      int mergeNo = merges.size();
      grown.clear();
      int[] list = where.remove(key);
      for (int j = 1; list != null && j <= list[0]; j++) {
        int wi = list[j];
        if (visited[wi] == mergeNo) continue;
        visited[wi] = mergeNo;
        int[] sym = words[wi];
        if (!contains(sym, a, b)) continue;
        long c = counts[wi];
        for (int k = 0; k + 1 < sym.length; k++) pairCounts.add(PairMap.key(sym[k], sym[k + 1]), -c);
        int[] out = new int[sym.length];
        int n = 0;
        for (int k = 0; k < sym.length; k++) {
          if (k + 1 < sym.length && sym[k] == a && sym[k + 1] == b) {
            out[n++] = merged;
            k++;
          } else {
            out[n++] = sym[k];
          }
        }
        sym = java.util.Arrays.copyOf(out, n);
        words[wi] = sym;
        for (int k = 0; k + 1 < n; k++) {
          long pk = PairMap.key(sym[k], sym[k + 1]);
          pairCounts.add(pk, c);
          if (sym[k] == merged || sym[k + 1] == merged) {
            addWhere(where, pk, wi);
            grown.add(pk);
          }
        }
      }
      pairCounts.put(key, 0);
      for (long pk : grown) {
        long cnt = pairCounts.get(pk, 0);
        if (cnt > 0) queue.add(new long[] {cnt, pk});
      }
    }
    return new Model(vocab, merges);
  }

  private static boolean contains(int[] sym, int a, int b) {
    for (int k = 0; k + 1 < sym.length; k++) if (sym[k] == a && sym[k + 1] == b) return true;
    return false;
  }

  private static void addWhere(Map<Long, int[]> where, long key, int word) {
    int[] list = where.get(key);
    if (list == null) {
      list = new int[4];
      where.put(key, list);
    } else if (list[list[0]] == word) {
      return;
    }
    if (list[0] + 1 == list.length) {
      list = java.util.Arrays.copyOf(list, list.length * 2);
      where.put(key, list);
    }
    list[++list[0]] = word;
  }

  /** Writes {@code model} as a HuggingFace {@code tokenizer.json} (tokenizers 0.9 layout). */
  public static void save(Model model, Path file) {
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = json.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (int i = 0; i < 2; i++) {
      ObjectNode t = added.addObject();
      t.put("id", i);
      t.put("special", true);
      t.put("content", model.vocab().get(i));
      t.put("single_word", false);
      t.put("lstrip", false);
      t.put("rstrip", false);
      t.put("normalized", false);
    }
    root.putObject("normalizer").put("type", "NFKC");
    ObjectNode pre = root.putObject("pre_tokenizer");
    pre.put("type", "ByteLevel");
    pre.put("add_prefix_space", true);
    pre.put("trim_offsets", true);
    ObjectNode post = root.putObject("post_processor");
    post.put("type", "ByteLevel");
    post.put("add_prefix_space", true);
    post.put("trim_offsets", true);
    ObjectNode dec = root.putObject("decoder");
    dec.put("type", "ByteLevel");
    dec.put("add_prefix_space", true);
    dec.put("trim_offsets", true);
    ObjectNode m = root.putObject("model");
    m.put("type", "BPE");
    m.putNull("dropout");
    m.putNull("unk_token");
    m.putNull("continuing_subword_prefix");
    m.putNull("end_of_word_suffix");
    m.put("fuse_unk", false);
    ObjectNode vocab = m.putObject("vocab");
    Map<String, Integer> ordered = new LinkedHashMap<>();
    for (int i = 0; i < model.vocab().size(); i++) ordered.putIfAbsent(model.vocab().get(i), i);
    ordered.forEach(vocab::put);
    ArrayNode merges = m.putArray("merges");
    for (String[] pair : model.merges()) merges.add(pair[0] + " " + pair[1]);
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      json.writeValue(tmp.toFile(), root);
      Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new DataException(file + ": cannot write the tokenizer (" + e.getMessage() + ")", e);
    }
  }
}
