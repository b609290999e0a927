package dev.neomesh.data.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * One token per UTF-8 byte: ids 0..255, vocabulary 256. Selected by {@code --encoder_path char} or
 * {@code "tokenizer_path": "char"}. EOS is byte 1 and padding byte 0 (GPT-Neo's dataset defaults;
 * neither occurs in text files), so tiny demo models need no tokenizer file at all.
 */
public final class CharTokenizer implements Tokenizer {
  public static final String NAME = "char";

  @Override
  public int[] encode(String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    int[] ids = new int[bytes.length];
    for (int i = 0; i < bytes.length; i++) ids[i] = bytes[i] & 0xff;
    return ids;
  }

  @Override
  public String decode(int[] ids) {
    byte[] bytes = new byte[ids.length];
    for (int i = 0; i < ids.length; i++) bytes[i] = (byte) ids[i];
    return new String(bytes, StandardCharsets.UTF_8);
  }

  @Override
  public int vocabSize() {
    return 256;
  }

  @Override
  public int eosId() {
    return 1;
  }

  @Override
  public int paddingId() {
    return 0;
  }

  @Override
  public String name() {
    return NAME;
  }
}
