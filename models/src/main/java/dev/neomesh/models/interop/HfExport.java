package dev.neomesh.models.interop;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ckpt.Checkpoints;
import dev.neomesh.mesh.ckpt.Manifest;
import dev.neomesh.mesh.ckpt.WholeTensors;
import dev.neomesh.data.tokenizer.Gpt2Files;
import dev.neomesh.data.tokenizer.Gpt2Tokenizer;
import dev.neomesh.data.tokenizer.Tokenizer;
import dev.neomesh.models.config.GptConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code --export_hf DIR}: a neomesh checkpoint as a HuggingFace GPT-Neo folder that
 * {@code GPTNeoForCausalLM.from_pretrained(DIR)} loads: {@code config.json} and
 * {@code model.safetensors} (float32, HuggingFace's names and shapes). Each tensor is read whole
 * from the sliced checkpoint by TensorFlow, converted and written before the next is read, so the
 * export holds one tensor in memory, never the gathered model.
 */
public final class HfExport {
  private HfExport() {}

  /** What was written. */
  public record Result(Path dir, int tensors, long bytes) {}

  /**
   * Writes {@code checkpoint} of {@code cfg}'s model into {@code dir} (created; refused when it already
   * holds a HuggingFace model). The dataset's {@code tokenizer} gives config.json's bos/eos ids; GPT-2's
   * tokenizer is also written as HuggingFace's files, so {@code AutoTokenizer.from_pretrained(dir)} works.
   */
  public static Result write(GptConfig cfg, Checkpoints.Checkpoint checkpoint, Path dir, Tokenizer tokenizer) {
    List<String> bad = HfGptNeo.inexpressible(cfg);
    if (!bad.isEmpty()) {
      throw new NeomeshException("cannot export " + cfg.source() + " to HuggingFace's GPT-Neo, which cannot express "
          + String.join("; ", bad) + ". Only GPT-Neo's plain architecture (global/local attention, learned positions, "
          + "layer norm, tied embeddings) exports");
    }
    for (String f : List.of(HfWeights.CONFIG, HfWeights.WEIGHTS)) {
      if (Files.exists(dir.resolve(f))) {
        throw new NeomeshException(dir.resolve(f) + " already exists: export into a new folder, or delete the old "
            + "export first");
      }
    }
    Manifest manifest = checkpoint.manifest();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    List<HfGptNeo.Weight> weights = HfGptNeo.weights(cfg);
    List<String> missing = new ArrayList<>();
    for (HfGptNeo.Weight w : weights) {
      Manifest.Entry e = manifest.entry(w.neomesh());
      if (e == null) {
        missing.add(w.neomesh());
      } else {
        shapes.put(w.hf(), HfGptNeo.hfShape(w, e.sizes()));
      }
    }
    if (!missing.isEmpty()) {
      throw new NeomeshException("checkpoint " + checkpoint.manifestFile() + " lacks " + missing + ": it was not "
          + "written by the model " + cfg.source() + " describes; export with the config it was trained with");
    }
    long bytes = 0;
    try (WholeTensors tensors = new WholeTensors();
        Safetensors.Writer out = Safetensors.create(dir.resolve(HfWeights.WEIGHTS), shapes, Map.of("format", "pt"))) {
      for (HfGptNeo.Weight w : weights) {
        Manifest.Entry e = manifest.entry(w.neomesh());
        float[] v = tensors.read(checkpoint.prefixString(), w.neomesh(), e.dtype().equals("BFLOAT16"));
        out.write(w.hf(), HfGptNeo.toHf(w, e.sizes(), v));
        bytes += 4L * v.length;
      }
    }
    if (tokenizer instanceof Gpt2Tokenizer) {
      writeGpt2Tokenizer(dir, cfg.nCtx());
    }
    writeAtomically(dir.resolve(HfWeights.CONFIG), HfGptNeo.config(cfg, tokenizer.eosId(), tokenizer.eosId()));
    return new Result(dir, weights.size(), bytes);
  }

  /** vocab.json, merges.txt and the configs that make them GPT-2's tokenizer for HuggingFace. */
  private static void writeGpt2Tokenizer(Path dir, int nCtx) {
    Gpt2Files.Files files = Gpt2Files.derive();
    writeAtomically(dir.resolve("vocab.json"), files.vocab());
    Path merges = dir.resolve("merges.txt");
    try {
      Files.writeString(merges, files.mergesText(), java.nio.charset.StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new NeomeshException("cannot write " + merges + ": " + e + "; check the folder is writable", e);
    }
    Map<String, Object> special = new LinkedHashMap<>();
    special.put("bos_token", Gpt2Files.EOS_TEXT);
    special.put("eos_token", Gpt2Files.EOS_TEXT);
    special.put("unk_token", Gpt2Files.EOS_TEXT);
    writeAtomically(dir.resolve("special_tokens_map.json"), special);
    Map<String, Object> config = new LinkedHashMap<>(special);
    config.put("tokenizer_class", "GPT2Tokenizer");
    config.put("model_max_length", nCtx);
    config.put("add_prefix_space", false);
    writeAtomically(dir.resolve("tokenizer_config.json"), config);
  }

  static void writeAtomically(Path target, Object json) {
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    try {
      new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), json);
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new NeomeshException("cannot write " + target + ": " + e + "; check the folder is writable", e);
    }
  }
}
