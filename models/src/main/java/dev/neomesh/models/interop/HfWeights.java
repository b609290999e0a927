package dev.neomesh.models.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ckpt.Manifest;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.train.InitialWeights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A HuggingFace GPT-Neo folder ({@code config.json} + {@code model.safetensors}) as the weights a
 * run starts from. Opening it checks that the folder's config describes the run's model (each
 * disagreement named with both values); {@link #check} that every tensor is there with the right
 * shape and nothing else is.
 */
final class HfWeights implements InitialWeights {
  static final String CONFIG = "config.json";
  static final String WEIGHTS = "model.safetensors";

  private final Path dir;
  private final Safetensors.Reader reader;
  private final Map<String, HfGptNeo.Weight> byName = new LinkedHashMap<>();

  private HfWeights(Path dir, Safetensors.Reader reader, List<HfGptNeo.Weight> weights) {
    this.dir = dir;
    this.reader = reader;
    for (HfGptNeo.Weight w : weights) {
      byName.putIfAbsent(w.neomesh(), w); // share_parameters: import is refused, so names are unique here
    }
  }

  static boolean looksLike(Path dir) {
    return Files.isRegularFile(dir.resolve(CONFIG)) || Files.isRegularFile(dir.resolve(WEIGHTS));
  }

  static HfWeights open(Path dir, GptConfig cfg) {
    Path configFile = dir.resolve(CONFIG);
    Path weightsFile = dir.resolve(WEIGHTS);
    for (Path f : List.of(configFile, weightsFile)) {
      if (!Files.isRegularFile(f)) {
        throw new NeomeshException("--init_from " + dir + " has no " + f.getFileName() + ": a HuggingFace GPT-Neo "
            + "folder holds config.json and model.safetensors (save one with model.save_pretrained(DIR), or "
            + "download it whole)");
      }
    }
    JsonNode hf;
    try {
      hf = new ObjectMapper().readTree(configFile.toFile());
    } catch (IOException e) {
      throw new NeomeshException("cannot read " + configFile + ": " + e.getMessage() + "; it must be HuggingFace's "
          + "JSON config", e);
    }
    List<String> bad = new ArrayList<>(HfGptNeo.inexpressible(cfg));
    if (cfg.shareParameters()) {
      bad.add("share_parameters: true (HuggingFace's layers each have their own weights)");
    }
    if (!bad.isEmpty()) {
      throw new NeomeshException("cannot start " + cfg.source() + " from HuggingFace's GPT-Neo " + dir + ": it "
          + "cannot express " + String.join("; ", bad) + ". Remove those keys from the config");
    }
    List<String> differ = HfGptNeo.disagreements(cfg, hf);
    if (!differ.isEmpty()) {
      throw new NeomeshException("the model config " + cfg.source() + " and " + configFile + " describe different "
          + "models: " + String.join("; ", differ) + ". Set the config's keys to the HF model's (e.g. --set "
          + "n_embd=...), or import a model of this shape");
    }
    return new HfWeights(dir, Safetensors.open(weightsFile), HfGptNeo.weights(cfg));
  }

  @Override
  public String source() {
    return "HuggingFace GPT-Neo " + dir;
  }

  @Override
  public void check(List<Manifest.Entry> parameters) {
    List<String> problems = new ArrayList<>();
    Set<String> used = new LinkedHashSet<>();
    for (Manifest.Entry p : parameters) {
      HfGptNeo.Weight w = byName.get(p.name());
      if (w == null) {
        problems.add("the model's " + p.name() + " has no HuggingFace counterpart");
        continue;
      }
      used.add(w.hf());
      Safetensors.Entry e = reader.entries().get(w.hf());
      long[] want = HfGptNeo.hfShape(w, p.sizes());
      if (e == null) {
        problems.add("tensor " + w.hf() + " " + Arrays.toString(want) + " is missing");
      } else if (!Arrays.equals(e.shape(), want)) {
        problems.add("tensor " + w.hf() + " is " + e.shapeText() + ", expected " + Arrays.toString(want)
            + " for " + p.name() + " " + p.shapeText());
      }
    }
    List<String> unexpected = reader.entries().keySet().stream()
        .filter(k -> !used.contains(k) && !HfGptNeo.ignoredOnImport(k)).toList();
    if (!unexpected.isEmpty()) {
      problems.add("unexpected tensors " + unexpected);
    }
    if (!problems.isEmpty()) {
      throw new NeomeshException(reader.file() + " does not hold this model's weights: " + String.join("; ", problems)
          + ". Import the model this config describes, or fix the config to match it");
    }
  }

  @Override
  public float[] values(Manifest.Entry parameter) {
    HfGptNeo.Weight w = byName.get(parameter.name());
    return HfGptNeo.fromHf(w, parameter.sizes(), reader.floats(w.hf()));
  }

  @Override
  public void close() {
    reader.close();
  }
}
