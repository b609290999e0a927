package dev.neomesh.models.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.data.tokenizer.Tokenizer;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.models.train.Scorer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * {@code --score IN.jsonl --output OUT.jsonl [--step N]}: each line of IN is {@code {"text": "..."}}
 * (encoded with the first dataset's tokenizer, as {@code --predict} does) or {@code {"ids": [...]}};
 * each line of OUT is that object with {@code "ids"}, {@code "logprobs"} (log p of every token
 * after the first given its prefix, float32) and {@code "sum_logprob"} added. Every line and the
 * output path are checked before a graph is built, and OUT is written to a temporary file in its
 * directory and renamed, so a failed run leaves no partial file. Blank lines are skipped.
 */
final class ScoreCommand {
  private static final String FORMAT = "each line must be one JSON object, {\"text\": \"...\"} or {\"ids\": [1, 2, 3]}";
  private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private ScoreCommand() {}

  /** One input line: its object and its token ids. */
  record Line(ObjectNode json, int[] ids) {}

  /** Scores {@code in} into {@code output}; {@code tokenizer} is asked for only if a line has text. */
  static void run(Scorer scorer, Path in, Path output, Long step, Supplier<Tokenizer> tokenizer, int nVocab,
                  PrintStream out) {
    List<Line> lines = read(in, tokenizer, nVocab);
    Path tmp = temporaryFile(output);
    try {
      Scorer.Scores scores = scorer.score(lines.stream().map(Line::ids).toList(), step);
      StringBuilder text = new StringBuilder();
      long tokens = 0;
      for (int i = 0; i < lines.size(); i++) {
        text.append(scored(lines.get(i), scores.logProbs().get(i))).append('\n');
        tokens += scores.logProbs().get(i).length;
      }
      Files.writeString(tmp, text, StandardCharsets.UTF_8);
      Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      out.println("scored " + lines.size() + (lines.size() == 1 ? " sequence (" : " sequences (") + tokens + " token log-probs) with checkpoint step "
          + scores.step() + ": wrote " + output);
    } catch (IOException e) {
      throw new NeomeshException("cannot write --output " + output + ": " + e + "; pass a path in a writable "
          + "directory with free space", e);
    } finally {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException e) {
        // the rename already happened or the file is gone; nothing else to clean up
      }
    }
  }

  /** Reads and checks every line of {@code in}: a clear error naming the line and the fix on the first bad one. */
  static List<Line> read(Path in, Supplier<Tokenizer> tokenizer, int nVocab) {
    List<String> text;
    try {
      text = Files.readAllLines(in, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new NeomeshException("cannot read --score " + in + ": " + e + "; pass a readable JSON-lines file: "
          + FORMAT, e);
    }
    Tokenizer tok = null;
    List<Line> lines = new ArrayList<>();
    for (int i = 0; i < text.size(); i++) {
      if (text.get(i).isBlank()) {
        continue;
      }
      String where = in + " line " + (i + 1) + ": ";
      JsonNode node;
      try {
        node = JSON.readTree(text.get(i));
      } catch (JsonProcessingException e) {
        throw new NeomeshException(where + "not JSON (" + e.getOriginalMessage() + "); " + FORMAT);
      }
      if (!(node instanceof ObjectNode obj)) {
        throw new NeomeshException(where + "not a JSON object; " + FORMAT);
      }
      if (obj.has("text") == obj.has("ids")) {
        throw new NeomeshException(where + (obj.has("text") ? "has both \"text\" and \"ids\": give only one"
            : "has neither \"text\" nor \"ids\"") + "; " + FORMAT);
      }
      int[] ids;
      if (obj.has("text")) {
        if (!obj.get("text").isTextual()) {
          throw new NeomeshException(where + "\"text\" is not a string; " + FORMAT);
        }
        if (tok == null) {
          tok = tokenizer.get();
        }
        ids = tok.encode(obj.get("text").asText());
      } else {
        ids = ids(obj.get("ids"), where);
      }
      Optional<String> problem = Scorer.problem(ids, nVocab);
      if (problem.isPresent()) {
        throw new NeomeshException(where + problem.get());
      }
      lines.add(new Line(obj, ids));
    }
    if (lines.isEmpty()) {
      throw new NeomeshException(in + " has no lines to score; " + FORMAT);
    }
    return lines;
  }

  private static int[] ids(JsonNode node, String where) {
    if (!node.isArray()) {
      throw new NeomeshException(where + "\"ids\" is not an array of integers; " + FORMAT);
    }
    int[] ids = new int[node.size()];
    for (int k = 0; k < ids.length; k++) {
      if (!node.get(k).canConvertToInt() || !node.get(k).isIntegralNumber()) {
        throw new NeomeshException(where + "\"ids\"[" + k + "] is " + node.get(k) + ", not an integer token id; "
            + FORMAT);
      }
      ids[k] = node.get(k).intValue();
    }
    return ids;
  }

  /** The input object with ids, logprobs and their sum added. */
  private static String scored(Line line, double[] logProbs) throws JsonProcessingException {
    ObjectNode o = line.json().deepCopy();
    ArrayNode ids = o.putArray("ids");
    for (int id : line.ids()) {
      ids.add(id);
    }
    ArrayNode lp = o.putArray("logprobs");
    double sum = 0;
    for (double v : logProbs) {
      lp.add((float) v); // the model's float32 value, written without double's spurious digits
      sum += v;
    }
    o.put("sum_logprob", sum);
    return JSON.writeValueAsString(o);
  }

  /** An empty temporary file next to {@code output}: proves the directory is writable before anything runs. */
  private static Path temporaryFile(Path output) {
    Path dir = output.toAbsolutePath().getParent();
    if (Files.isDirectory(output)) {
      throw new NeomeshException("--output " + output + " is a directory; pass a file path, e.g. "
          + output.resolve("scores.jsonl"));
    }
    try {
      return Files.createTempFile(dir, "." + output.getFileName() + ".", ".tmp");
    } catch (IOException | UnsupportedOperationException e) {
      throw new NeomeshException("cannot write --output " + output + " (" + e + "); pass a file in an existing, "
          + "writable directory", e);
    }
  }
}
