package dev.neomesh.data.tokenizer;

import java.text.Normalizer;
import java.util.regex.Pattern;

/** GPT-2's byte-level pieces: the byte-to-printable-character table and the pre-tokenizer regex. */
final class ByteLevel {
  /** GPT-2's pre-tokenizer, as HuggingFace's ByteLevel pre-tokenizer uses it (Unicode classes). */
  static final Pattern GPT2_SPLIT = Pattern.compile(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      Pattern.UNICODE_CHARACTER_CLASS);

  /** BYTE_TO_CHAR[b] is the printable character GPT-2 uses for byte b. */
  static final char[] BYTE_TO_CHAR = new char[256];
  /** CHAR_TO_BYTE[c] is the byte for character c, or -1. */
  static final int[] CHAR_TO_BYTE = new int[512];

  static {
    boolean[] direct = new boolean[256];
    for (int b = '!'; b <= '~'; b++) direct[b] = true;
    for (int b = 0xa1; b <= 0xac; b++) direct[b] = true;
    for (int b = 0xae; b <= 0xff; b++) direct[b] = true;
    int n = 0;
    for (int b = 0; b < 256; b++) BYTE_TO_CHAR[b] = direct[b] ? (char) b : (char) (256 + n++);
    java.util.Arrays.fill(CHAR_TO_BYTE, -1);
    for (int b = 0; b < 256; b++) CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
  }

  private ByteLevel() {}

  /** The byte-level form of {@code piece}: its UTF-8 bytes as GPT-2's printable characters. */
  static String toByteChars(String piece) {
    byte[] bytes = piece.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
    return new String(out);
  }

  /** A normalizer by HuggingFace name, or null when unsupported. */
  static java.util.function.UnaryOperator<String> normalizer(String type) {
    return switch (type) {
      case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
      case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
      case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
      case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
      case "Lowercase" -> s -> s.toLowerCase(java.util.Locale.ROOT);
      default -> null;
    };
  }
}
