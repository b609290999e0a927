package dev.neomesh.data.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.data.DataException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;

/**
 * A HuggingFace {@code tokenizer.json} byte-level BPE (what GPT-Neo's {@code train_tokenizer.py}
 * writes and its dataset configs' {@code tokenizer_path} names): {@code model.vocab},
 * {@code model.merges}, {@code added_tokens}, the optional normalizer (NFC/NFD/NFKC/NFKD/Lowercase or
 * a sequence of them) and the ByteLevel pre-tokenizer with GPT-2's regex. Hand-written because no
 * maintained Java library loads or trains HuggingFace byte-level BPE without native code (the
 * official bindings are Rust through JNI, DJL's wrapper ships a native library per platform);
 * the algorithm is small and is tested for round trips and against GPT-2's ids.
 */
public final class ByteLevelBpeTokenizer implements Tokenizer {
  public static final String EOS_TOKEN = "<|endoftext|>";
  public static final String PADDING_TOKEN = "<|padding|>";

  private final String name;
  private final String[] idToToken;
  private final boolean[] special;
  private final int[] byteToId = new int[256];
  private final PairMap merges; // pair -> (rank << 32 | merged id)
  private final List<Map.Entry<String, Integer>> addedTokens; // longest first
  private final UnaryOperator<String> normalizer;
  private final boolean addPrefixSpace;
  private final Map<String, int[]> cache = new ConcurrentHashMap<>();

  ByteLevelBpeTokenizer(String name, Map<String, Integer> vocab, List<String[]> mergeList,
      Map<String, Integer> added, UnaryOperator<String> normalizer, boolean addPrefixSpace) {
    this.name = name;
    int size = 0;
    for (int id : vocab.values()) size = Math.max(size, id + 1);
    for (int id : added.values()) size = Math.max(size, id + 1);
    idToToken = new String[size];
    special = new boolean[size];
    vocab.forEach((t, id) -> idToToken[id] = t);
    added.forEach((t, id) -> {
      idToToken[id] = t;
      special[id] = true;
    });
    for (int b = 0; b < 256; b++) {
      Integer id = vocab.get(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]));
      byteToId[b] = id == null ? -1 : id;
    }
    merges = new PairMap(mergeList.size());
    for (int rank = 0; rank < mergeList.size(); rank++) {
      String[] m = mergeList.get(rank);
      Integer a = vocab.get(m[0]);
      Integer b = vocab.get(m[1]);
      Integer ab = vocab.get(m[0] + m[1]);
      if (a == null || b == null || ab == null) {
        throw new DataException(name + ": merge " + rank + " (\"" + m[0] + " " + m[1] + "\") uses a token"
            + " missing from model.vocab; the tokenizer file is inconsistent: re-train or re-download it");
      }
      long key = PairMap.key(a, b);
      if (merges.get(key, -1) < 0) merges.put(key, ((long) rank << 32) | ab);
    }
    addedTokens = new ArrayList<>(added.entrySet());
    addedTokens.sort(Comparator.comparingInt((Map.Entry<String, Integer> e) -> -e.getKey().length()));
    this.normalizer = normalizer;
    this.addPrefixSpace = addPrefixSpace;
  }

  /** Loads a HuggingFace {@code tokenizer.json}. */
  public static ByteLevelBpeTokenizer load(Path file) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(file.toFile());
    } catch (NoSuchFileException | java.io.FileNotFoundException e) {
      throw new DataException(file + ": tokenizer file not found; check tokenizer_path / --encoder_path"
          + " (use \"gpt2\" for GPT-2's tokenizer, \"char\" for characters)", e);
    } catch (IOException e) {
      throw new DataException(file + ": not a readable tokenizer.json (" + e.getMessage() + ")", e);
    }
    String where = file.toString();
    JsonNode model = root.path("model");
    if (!model.isObject() || !model.path("vocab").isObject()) {
      throw new DataException(where + ": no model.vocab object; this is not a HuggingFace tokenizer.json");
    }
    String type = model.path("type").asText("BPE");
    if (!type.equals("BPE")) {
      throw new DataException(where + ": model.type is " + type + "; only byte-level BPE is supported");
    }
    for (String k : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.hasNonNull(k) && !model.get(k).asText().isEmpty()) {
        throw new DataException(where + ": model." + k + " is set; only byte-level BPE without it is supported");
      }
    }
    Map<String, Integer> vocab = new HashMap<>();
    model.get("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
    List<String[]> mergeList = new ArrayList<>();
    for (JsonNode m : model.path("merges")) {
      if (m.isArray() && m.size() == 2) {
        mergeList.add(new String[] {m.get(0).asText(), m.get(1).asText()});
      } else {
        String s = m.asText();
        int sp = s.indexOf(' ', 1);
        if (sp < 0) throw new DataException(where + ": merge \"" + s + "\" is not two tokens separated by a space");
        mergeList.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
      }
    }
    Map<String, Integer> added = new HashMap<>();
    for (JsonNode t : root.path("added_tokens")) added.put(t.path("content").asText(), t.path("id").asInt());
    UnaryOperator<String> normalizer = normalizer(root.path("normalizer"), where);
    boolean prefix = byteLevelPrefixSpace(root.path("pre_tokenizer"), where);
    return new ByteLevelBpeTokenizer(where, vocab, mergeList, added, normalizer, prefix);
  }

  private static UnaryOperator<String> normalizer(JsonNode n, String where) {
    if (n.isMissingNode() || n.isNull()) return s -> s;
    String type = n.path("type").asText();
    if (type.equals("Sequence")) {
      UnaryOperator<String> all = s -> s;
      for (JsonNode each : n.path("normalizers")) {
        UnaryOperator<String> prev = all;
        UnaryOperator<String> next = normalizer(each, where);
        all = s -> next.apply(prev.apply(s));
      }
      return all;
    }
    UnaryOperator<String> f = ByteLevel.normalizer(type);
    if (f == null) {
      throw new DataException(where + ": normalizer " + type + " is not supported (supported: NFC, NFD, NFKC,"
          + " NFKD, Lowercase, Sequence)");
    }
    return f;
  }

  private static boolean byteLevelPrefixSpace(JsonNode p, String where) {
    String type = p.path("type").asText();
    if (type.equals("ByteLevel")) return p.path("add_prefix_space").asBoolean(true);
    if (type.equals("Sequence")) {
      for (JsonNode each : p.path("pretokenizers")) {
        if (each.path("type").asText().equals("ByteLevel")) return each.path("add_prefix_space").asBoolean(true);
      }
    }
    throw new DataException(where + ": pre_tokenizer is " + (type.isEmpty() ? "missing" : type)
        + "; only the ByteLevel pre-tokenizer (byte-level BPE, as GPT-2 and GPT-Neo use) is supported");
  }

  @Override
  public int[] encode(String text) {
    IntList out = new IntList(text.length() / 3 + 8);
    encodeSegments(text, out);
    return out.toArray();
  }

  private void encodeSegments(String text, IntList out) {
    int from = 0;
    int i = 0;
    outer:
    while (i < text.length() && !addedTokens.isEmpty()) {
      for (Map.Entry<String, Integer> t : addedTokens) {
        if (text.startsWith(t.getKey(), i)) {
          encodeOrdinary(text.substring(from, i), out);
          out.add(t.getValue());
          i += t.getKey().length();
          from = i;
          continue outer;
        }
      }
      i++;
    }
    encodeOrdinary(text.substring(from), out);
  }

  private void encodeOrdinary(String text, IntList out) {
    if (text.isEmpty()) return;
    text = normalizer.apply(text);
    if (addPrefixSpace && !text.startsWith(" ")) text = " " + text;
    Matcher m = ByteLevel.GPT2_SPLIT.matcher(text);
    while (m.find()) {
      String piece = m.group();
      int[] ids = cache.get(piece);
      if (ids == null) {
        ids = bpe(piece);
        if (cache.size() > 200_000) cache.clear();
        cache.put(piece, ids);
      }
      out.addAll(ids);
    }
  }

  private int[] bpe(String piece) {
    byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
    int[] sym = new int[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      sym[i] = byteToId[bytes[i] & 0xff];
      if (sym[i] < 0) {
        throw new DataException(name + ": the vocabulary lacks byte 0x" + Integer.toHexString(bytes[i] & 0xff)
            + "; a byte-level BPE vocabulary must hold all 256 bytes (re-train the tokenizer)");
      }
    }
    int n = sym.length;
    while (n > 1) {
      long best = Long.MAX_VALUE;
      for (int i = 0; i + 1 < n; i++) {
        long v = merges.get(PairMap.key(sym[i], sym[i + 1]), Long.MAX_VALUE);
        if (v < best) best = v;
      }
      if (best == Long.MAX_VALUE) break;
      int merged = (int) best;
      int w = 0;
      for (int i = 0; i < n; i++) {
        if (i + 1 < n && merges.get(PairMap.key(sym[i], sym[i + 1]), -1) == best) {
          sym[w++] = merged;
          i++;
        } else {
          sym[w++] = sym[i];
        }
      }
      n = w;
    }
    return java.util.Arrays.copyOf(sym, n);
  }

  @Override
  public String decode(int[] ids) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
    for (int id : ids) {
      String t = id >= 0 && id < idToToken.length ? idToToken[id] : null;
      if (t == null) {
        out.writeBytes(("<|" + id + "|>").getBytes(StandardCharsets.UTF_8));
      } else if (special[id]) {
        out.writeBytes(t.getBytes(StandardCharsets.UTF_8));
      } else {
        for (int k = 0; k < t.length(); k++) {
          char c = t.charAt(k);
          int b = c < ByteLevel.CHAR_TO_BYTE.length ? ByteLevel.CHAR_TO_BYTE[c] : -1;
          if (b >= 0) out.write(b);
          else out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
        }
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  /** The id of {@code token}, or -1. */
  public int tokenId(String token) {
    for (int i = 0; i < idToToken.length; i++) if (token.equals(idToToken[i])) return i;
    return -1;
  }

  public String token(int id) {
    return idToToken[id];
  }

  @Override
  public int vocabSize() {
    return idToToken.length;
  }

  @Override
  public int eosId() {
    return tokenId(EOS_TOKEN);
  }

  @Override
  public int paddingId() {
    return tokenId(PADDING_TOKEN);
  }

  @Override
  public String name() {
    return name;
  }

  /** A growable int array. */
  static final class IntList {
    int[] a;
    int n;

    IntList(int capacity) {
      a = new int[Math.max(8, capacity)];
    }

    void add(int v) {
      if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
      a[n++] = v;
    }

    void addAll(int[] vs) {
      if (n + vs.length > a.length) a = java.util.Arrays.copyOf(a, Math.max(n * 2, n + vs.length));
      System.arraycopy(vs, 0, a, n, vs.length);
      n += vs.length;
    }

    int[] toArray() {
      return java.util.Arrays.copyOf(a, n);
    }
  }
}
