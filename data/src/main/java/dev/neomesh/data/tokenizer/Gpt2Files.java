package dev.neomesh.data.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * GPT-2's tokenizer as HuggingFace's files ({@code vocab.json}: byte-level token to id,
 * {@code merges.txt}: the merge rules in rank order), derived from the vocabulary JTokkit ships
 * ({@code r50k_base.tiktoken}: base64 token bytes and rank, rank = id), so an exported model
 * carries the tokenizer it was trained with. A token of rank r is the merge of the two parts that
 * byte-pair encoding of its bytes with the ranks below r leaves (the rule GPT-2's BPE applies), so
 * the merges are recovered exactly.
 */
public final class Gpt2Files {
  private static final String RESOURCE = "/com/knuddels/jtokkit/r50k_base.tiktoken";
  public static final String EOS_TEXT = "<|endoftext|>";

  private Gpt2Files() {}

  /** The two files' contents. */
  public record Files(Map<String, Integer> vocab, List<String> merges) {
    /** merges.txt as HuggingFace writes it: a version line, then one "left right" pair per line. */
    public String mergesText() {
      StringBuilder sb = new StringBuilder("#version: 0.2\n");
      merges.forEach(m -> sb.append(m).append('\n'));
      return sb.toString();
    }
  }

  public static Files derive() {
    List<byte[]> tokens = new ArrayList<>();
    Map<String, Integer> ranks = new HashMap<>();
    try (InputStream in = Gpt2Files.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException("JTokkit's " + RESOURCE + " is not on the class path");
      }
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (line.isBlank()) {
          continue;
        }
        int space = line.indexOf(' ');
        byte[] bytes = Base64.getDecoder().decode(line.substring(0, space));
        int rank = Integer.parseInt(line.substring(space + 1).trim());
        if (rank != tokens.size()) {
          throw new IllegalStateException(RESOURCE + ": rank " + rank + " out of order");
        }
        tokens.add(bytes);
        ranks.put(chars(bytes), rank);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Map<String, Integer> vocab = new LinkedHashMap<>();
    List<String> merges = new ArrayList<>();
    for (int rank = 0; rank < tokens.size(); rank++) {
      String t = chars(tokens.get(rank));
      vocab.put(t, rank);
      if (t.length() > 1) {
        List<String> parts = bpe(t, rank, ranks);
        if (parts.size() != 2) {
          throw new IllegalStateException("token " + rank + " does not split into one merge: " + parts);
        }
        merges.add(parts.get(0) + " " + parts.get(1));
      }
    }
    vocab.put(EOS_TEXT, Gpt2Tokenizer.EOS);
    return new Files(vocab, merges);
  }

  /** The byte-level characters of {@code bytes} (one char per byte, GPT-2's printable table). */
  private static String chars(byte[] bytes) {
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      out[i] = ByteLevel.BYTE_TO_CHAR[bytes[i] & 0xff];
    }
    return new String(out);
  }

  /** Byte-pair encoding of {@code token} with the merges of rank below {@code maxRank}, lowest rank first. */
  private static List<String> bpe(String token, int maxRank, Map<String, Integer> ranks) {
    List<String> parts = new ArrayList<>();
    for (int i = 0; i < token.length(); i++) {
      parts.add(token.substring(i, i + 1));
    }
    while (parts.size() > 1) {
      int best = -1;
      int bestRank = maxRank;
      for (int i = 0; i + 1 < parts.size(); i++) {
        Integer r = ranks.get(parts.get(i) + parts.get(i + 1));
        if (r != null && r < bestRank) {
          best = i;
          bestRank = r;
        }
      }
      if (best < 0) {
        break;
      }
      parts.set(best, parts.get(best) + parts.remove(best + 1));
    }
    return parts;
  }
}
