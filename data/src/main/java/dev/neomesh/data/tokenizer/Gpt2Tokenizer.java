package dev.neomesh.data.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-level BPE with GPT-2's exact ids, through JTokkit's {@code r50k_base} encoding (the
 * GPT-2 vocabulary). As in GPT-Neo's {@code GPT2TokenizerFast}, the literal text
 * {@code <|endoftext|>} encodes to the EOS id 50256, and padding is {@code <|padding|>} = 50257 (an
 * id GPT-2 does not have; it decodes to that string).
 */
public final class Gpt2Tokenizer implements Tokenizer {
  public static final String NAME = "gpt2";
  public static final int EOS = 50256;
  public static final int PADDING = 50257;
  private static final String EOS_TEXT = "<|endoftext|>";
  private static final String PADDING_TEXT = "<|padding|>";

  private static final Encoding ENCODING =
      Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);

  @Override
  public int[] encode(String text) {
    if (!text.contains(EOS_TEXT)) return ENCODING.encodeOrdinary(text).toArray();
    IntArrayList out = new IntArrayList();
    int from = 0;
    for (int at = text.indexOf(EOS_TEXT); at >= 0; at = text.indexOf(EOS_TEXT, from)) {
      appendAll(out, ENCODING.encodeOrdinary(text.substring(from, at)));
      out.add(EOS);
      from = at + EOS_TEXT.length();
    }
    appendAll(out, ENCODING.encodeOrdinary(text.substring(from)));
    return out.toArray();
  }

  private static void appendAll(IntArrayList out, IntArrayList in) {
    for (int i = 0; i < in.size(); i++) out.add(in.get(i));
  }

  @Override
  public String decode(int[] ids) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
    IntArrayList run = new IntArrayList();
    for (int id : ids) {
      if (id == PADDING || id < 0 || id > EOS) {
        flush(run, bytes);
        bytes.writeBytes((id == PADDING ? PADDING_TEXT : "<|" + id + "|>").getBytes(StandardCharsets.UTF_8));
      } else {
        run.add(id);
      }
    }
    flush(run, bytes);
    return bytes.toString(StandardCharsets.UTF_8);
  }

  private static void flush(IntArrayList run, ByteArrayOutputStream out) {
    if (!run.isEmpty()) {
      out.writeBytes(ENCODING.decodeBytes(run));
      run.clear();
    }
  }

  @Override
  public int vocabSize() {
    return EOS + 1;
  }

  @Override
  public int eosId() {
    return EOS;
  }

  @Override
  public int paddingId() {
    return PADDING;
  }

  @Override
  public String name() {
    return NAME;
  }
}
