package dev.neomesh.models.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.data.tokenizer.Tokenizer;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.models.train.Generative;
import dev.neomesh.models.train.Generator;
import dev.neomesh.models.train.Sampling;
import dev.neomesh.models.train.Trainer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code --predict}: continues a prompt with the compiled decoding programs ({@link Generator}),
 * streaming the first sample to standard output as it is generated, and writes every sample to
 * {@code model_path/predictions_<step>.txt} (GPT-Neo's format: prompt and continuation between its
 * SAMPLE markers) and {@code predictions_<step>.jsonl} (one object per sample: prompt, prompt_ids,
 * ids, text, seed, tokens_per_sec). {@code --interactive} reads one prompt per line of standard input
 * and answers each with the same programs. Every flag is checked before anything is compiled.
 */
final class GenerateCommand {
  private static final ObjectMapper JSON = new ObjectMapper();

  private GenerateCommand() {}

  /** The flags of a generation, checked. {@code maxNewTokens}: new tokens per sample. */
  record Options(String prompt, Sampling sampling, int maxNewTokens, int samples, long seed, boolean seedGiven,
                 List<String> stops, boolean interactive) {}

  /** The tokenizer and ids of the dataset the model was trained on. */
  record Vocabulary(Tokenizer tokenizer, int eosId, int nVocab) {}

  /** Checks the flags; a clear message for each mistake. */
  static Options options(String prompt, Double temperature, Integer topK, Double topP, Integer maxNewTokens,
      Integer samples, Long seed, List<String> stops, boolean interactive, int defaultMaxNew, int defaultSamples,
      int nVocab) {
    if (temperature != null && (temperature < 0 || temperature.isNaN() || temperature.isInfinite())) {
      throw new NeomeshException("--temperature " + temperature + " is negative: pass 0 for greedy decoding, or a "
          + "positive temperature (GPT-Neo samples at 0.9)");
    }
    if (topP != null && !(topP > 0 && topP <= 1)) {
      throw new NeomeshException("--top_p " + topP + " is outside (0, 1]: the nucleus keeps the most likely tokens "
          + "whose probability reaches top_p; pass e.g. 0.9, or 1 for no nucleus");
    }
    if (topK != null && (topK < 0 || topK > nVocab)) {
      throw new NeomeshException("--top_k " + topK + " is outside [0, n_vocab " + nVocab + "]: pass the number of "
          + "most likely tokens to sample from, or 0 for all");
    }
    if (samples != null && samples < 1) {
      throw new NeomeshException("--num_samples " + samples + ": pass at least 1");
    }
    if (maxNewTokens != null && maxNewTokens < 1) {
      throw new NeomeshException("--max_new_tokens " + maxNewTokens + ": pass at least 1");
    }
    for (String s : stops) {
      if (s.isEmpty()) {
        throw new NeomeshException("--stop \"\" would stop before the first token: pass a non-empty text");
      }
    }
    Sampling sampling = new Sampling(temperature == null ? 0.9 : temperature, topK == null ? 0 : topK,
        topP == null ? 1 : topP);
    long s = seed != null ? seed : new SecureRandom().nextInt(Integer.MAX_VALUE);
    return new Options(prompt, sampling, maxNewTokens != null ? maxNewTokens : defaultMaxNew,
        samples != null ? samples : defaultSamples, s, seed != null, List.copyOf(stops), interactive);
  }

  /**
   * The ids of {@code text}; a clear error when it has none or one the model cannot read (a tokenizer
   * that does not match the model).
   */
  static int[] promptIds(String text, Vocabulary v) {
    int[] ids = v.tokenizer().encode(text);
    if (ids.length == 0) {
      throw new NeomeshException("the prompt is empty: pass some text with --prompt TEXT or --prompt_file FILE "
          + "(without either, GPT-Neo's unicorn prompt is used)");
    }
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= v.nVocab()) {
        throw new NeomeshException("the prompt's token " + i + " has id " + ids[i] + ", outside the model's vocabulary "
            + "[0, " + v.nVocab() + "): tokenizer " + v.tokenizer().name() + " does not match n_vocab " + v.nVocab()
            + "; use the dataset (tokenizer) the model was trained with, or raise n_vocab");
      }
    }
    return ids;
  }

  /** One sample: what the files keep. */
  record Sample(String prompt, int[] promptIds, int[] ids, String text, long seed, double tokensPerSecond) {}

  /**
   * Generates for {@code o}: the prompt's ids {@code first} (checked by {@link #promptIds}; null
   * under {@code --interactive}), or each prompt line of {@code in}.
   */
  static void run(Trainer trainer, Generative model, Options o, int[] first, Vocabulary v, Path modelPath,
      InputStream in, PrintStream out) {
    try (Generator gen = Generator.open(trainer, model, o.samples(), o.sampling(), null)) {
      out.printf(Locale.ROOT, "sampling from %s: %s, %d new tokens, %d sample(s), seed %d%s; key/value cache %s "
              + "per sequence%s%n", gen.step() == 0 ? "the initial weights" : "checkpoint step " + gen.step(),
          describe(o.sampling()), o.maxNewTokens(), o.samples(), o.seed(),
          o.seedGiven() ? "" : " (pass --seed " + o.seed() + " to repeat)", bytes(gen.cacheBytesPerRow()), model.cacheNote());
      List<Sample> all = new ArrayList<>();
      if (!o.interactive()) {
        all.addAll(generate(gen, o, v, o.prompt(), first, out));
        write(all, modelPath, gen.step(), out);
        return;
      }
      BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      while (true) {
        out.print("prompt> ");
        out.flush();
        String line = lines.readLine();
        if (line == null) {
          out.println();
          break;
        }
        if (line.isBlank()) {
          continue;
        }
        int[] ids;
        try {
          ids = promptIds(line, v);
        } catch (NeomeshException e) {
          out.println("neomesh: " + e.getMessage());
          continue;
        }
        all.addAll(generate(gen, o, v, line, ids, out));
        write(all, modelPath, gen.step(), out);
      }
    } catch (IOException e) {
      throw new NeomeshException("cannot read prompts from standard input: " + e, e);
    }
  }

  private static List<Sample> generate(Generator gen, Options o, Vocabulary v, String prompt, int[] ids,
      PrintStream out) {
    List<int[]> prompts = new ArrayList<>();
    for (int i = 0; i < o.samples(); i++) {
      prompts.add(ids);
    }
    List<List<Integer>> made = new ArrayList<>();
    for (int i = 0; i < o.samples(); i++) {
      made.add(new ArrayList<>());
    }
    Stream first = new Stream(v.tokenizer(), o.stops(), out);
    out.print(prompt);
    Generator.Output done = gen.generate(prompts, o.maxNewTokens(), v.eosId(), o.seed(), (row, id, index) -> {
      if (id == v.eosId()) {
        return true;
      }
      made.get(row).add(id);
      boolean stop = !o.stops().isEmpty() && stopAt(v.tokenizer().decode(toArray(made.get(row))), o.stops()) >= 0;
      if (row == 0) {
        first.show(toArray(made.get(0)));
      }
      return stop;
    });
    first.finish(toArray(made.get(0)));
    out.println();
    List<Sample> samples = new ArrayList<>();
    for (int r = 0; r < o.samples(); r++) {
      int[] newIds = toArray(made.get(r));
      String text = cut(v.tokenizer().decode(newIds), o.stops());
      if (r > 0) {
        out.println("-".repeat(30) + " sample " + r + " " + "-".repeat(30));
        out.println(prompt + text);
      }
      samples.add(new Sample(prompt, ids, newIds, text, o.seed(), newIds.length / done.seconds()));
    }
    long tokens = done.ids().stream().mapToLong(a -> a.length).sum();
    out.printf(Locale.ROOT, "generated %d tokens in %.2f s: %.1f tokens/s, first token after %.3f s%n", tokens,
        done.seconds(), done.tokensPerSecond(), done.firstTokenSeconds());
    return samples;
  }

  /** Streams one sample's text: what is certain so far (no half character, no half stop text). */
  private static final class Stream {
    private final Tokenizer tokenizer;
    private final List<String> stops;
    private final PrintStream out;
    private int shown;

    Stream(Tokenizer tokenizer, List<String> stops, PrintStream out) {
      this.tokenizer = tokenizer;
      this.stops = stops;
      this.out = out;
    }

    void show(int[] ids) {
      String text = tokenizer.decode(ids);
      int stop = stopAt(text, stops);
      int end = stop >= 0 ? stop : text.length() - heldBack(text);
      if (end > shown) {
        out.print(text.substring(shown, end));
        out.flush();
        shown = end;
      }
    }

    void finish(int[] ids) {
      String text = cut(tokenizer.decode(ids), stops);
      if (text.length() > shown) {
        out.print(text.substring(shown));
      }
    }

    /** Characters at the end that may still change: a partial UTF-8 character, the start of a stop text. */
    private int heldBack(String text) {
      int held = text.endsWith("\uFFFD") ? 1 : 0;
      for (String s : stops) {
        for (int n = Math.min(s.length() - 1, text.length()); n > held; n--) {
          if (text.endsWith(s.substring(0, n))) {
            held = n;
            break;
          }
        }
      }
      return held;
    }
  }

  /** Where the first stop text starts in {@code text}, or -1. */
  static int stopAt(String text, List<String> stops) {
    int at = -1;
    for (String s : stops) {
      int i = text.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
      }
    }
    return at;
  }

  private static String cut(String text, List<String> stops) {
    int at = stopAt(text, stops);
    return at >= 0 ? text.substring(0, at) : text;
  }

  private static int[] toArray(List<Integer> ids) {
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Writes the samples as {@code predictions_<step>.txt} and {@code .jsonl}, each by a temporary file and a rename. */
  private static void write(List<Sample> samples, Path modelPath, long step, PrintStream out) {
    StringBuilder txt = new StringBuilder();
    StringBuilder jsonl = new StringBuilder();
    for (int i = 0; i < samples.size(); i++) {
      Sample s = samples.get(i);
      txt.append("=".repeat(40)).append(" SAMPLE ").append(i).append(' ').append("=".repeat(40)).append("\n\n");
      txt.append(s.prompt()).append(s.text()).append("\n\n").append("=".repeat(80)).append('\n');
      ObjectNode o = JSON.createObjectNode();
      o.put("prompt", s.prompt());
      ArrayNode p = o.putArray("prompt_ids");
      for (int id : s.promptIds()) {
        p.add(id);
      }
      ArrayNode ids = o.putArray("ids");
      for (int id : s.ids()) {
        ids.add(id);
      }
      o.put("text", s.text());
      o.put("seed", s.seed());
      o.put("tokens_per_sec", Math.round(s.tokensPerSecond() * 100) / 100.0);
      jsonl.append(o).append('\n');
    }
    Path text = modelPath.resolve("predictions_" + step + ".txt");
    Path lines = modelPath.resolve("predictions_" + step + ".jsonl");
    replace(text, txt.toString());
    replace(lines, jsonl.toString());
    out.println("predictions written to " + text + " and " + lines.getFileName());
  }

  private static void replace(Path file, String content) {
    try {
      Files.createDirectories(file.getParent());
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      Files.writeString(tmp, content, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new NeomeshException("cannot write " + file + ": " + e + ". Make model_path writable", e);
    }
  }

  static String describe(Sampling s) {
    if (s.greedy()) {
      return "greedy";
    }
    return String.format(Locale.ROOT, "temperature %s%s%s", s.temperature(), s.topK() > 0 ? ", top_k " + s.topK() : "",
        s.topP() < 1 ? ", top_p " + s.topP() : "");
  }

  static String bytes(long n) {
    return n >= 1 << 20 ? String.format(Locale.ROOT, "%.1f MiB", n / 1048576.0)
        : String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
  }
}
