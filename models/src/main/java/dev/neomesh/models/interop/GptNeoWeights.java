package dev.neomesh.models.interop;

import dev.neomesh.mesh.NeomeshException;
import dev.neomesh.mesh.ckpt.BundleIndex;
import dev.neomesh.mesh.ckpt.Manifest;
import dev.neomesh.mesh.ckpt.WholeTensors;
import dev.neomesh.models.train.GptNeoFiles;
import dev.neomesh.models.train.InitialWeights;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.tensorflow.proto.DataType;

/**
 * GPT-Neo's own mesh-TensorFlow checkpoint ({@code model.ckpt-N}, the highest N in the folder) as the
 * weights a run starts from. neomesh kept GPT-Neo's variable names, so each parameter is the
 * checkpoint tensor of the same name; Mesh-TensorFlow stores the attention projections with heads
 * and d_kv combined ({@code q} as {@code [embd, heads*kv]}, heads-major), which is neomesh's
 * {@code [embd, heads, kv]} in the same C order, so only the element count is compared. GPT-Neo pads
 * the vocabulary ({@code wte} of 50304 rows for GPT-2's 50257): the first {@code n_vocab} rows are
 * taken. bfloat16 values are widened to float32. {@code global_step} and the Adam slots are skipped,
 * as HuggingFace's converter skips them.
 */
final class GptNeoWeights implements InitialWeights {
  private static final String WTE = "gpt2/wte";

  private final Path prefix;
  private final BundleIndex index;
  private final WholeTensors tensors = new WholeTensors();

  private GptNeoWeights(Path prefix, BundleIndex index) {
    this.prefix = prefix;
    this.index = index;
  }

  static boolean looksLike(Path dir) {
    return GptNeoFiles.present(dir);
  }

  static GptNeoWeights open(Path dir) {
    Path prefix = GptNeoFiles.latest(dir).orElseThrow();
    return new GptNeoWeights(prefix, BundleIndex.read(prefix));
  }

  @Override
  public String source() {
    return "GPT-Neo checkpoint " + prefix;
  }

  /** Tensors of a GPT-Neo checkpoint that are not model weights. */
  private static boolean skipped(String name) {
    return name.contains("global_step") || name.contains("adam") || name.contains("Adam")
        || name.contains("adafactor");
  }

  @Override
  public void check(List<Manifest.Entry> parameters) {
    List<String> problems = new ArrayList<>();
    Set<String> used = new LinkedHashSet<>();
    for (Manifest.Entry p : parameters) {
      BundleIndex.Tensor t = index.tensor(p.name());
      used.add(p.name());
      if (t == null) {
        problems.add(p.name() + " " + p.shapeText() + " is missing");
        continue;
      }
      if (t.dtype() != DataType.DT_FLOAT && t.dtype() != DataType.DT_BFLOAT16) {
        problems.add(p.name() + " is " + t.dtype() + ", not float32 or bfloat16");
      } else if (!fits(p, t.shape())) {
        problems.add(p.name() + " is " + Arrays.toString(t.shape()) + " in the checkpoint but " + p.shapeText()
            + " in the model");
      }
    }
    List<String> unexpected = index.tensors().stream().map(BundleIndex.Tensor::name)
        .filter(n -> !used.contains(n) && !skipped(n)).toList();
    if (!unexpected.isEmpty()) {
      problems.add("tensors the model does not have: " + unexpected);
    }
    if (!problems.isEmpty()) {
      throw new NeomeshException(index.file() + " does not hold this model's weights: " + String.join("; ", problems)
          + ". Set the config's model keys (n_embd, n_layer, n_ctx, n_vocab, attention types and options) to those "
          + "the checkpoint was trained with");
    }
  }

  /**
   * The same shape, or (Mesh-TensorFlow's combined heads) another rank with the same elements in C
   * order; wte may have more (padded) rows than n_vocab.
   */
  private static boolean fits(Manifest.Entry p, long[] stored) {
    if (p.name().equals(WTE)) {
      return stored.length == 2 && stored[1] == p.sizes()[1] && stored[0] >= p.sizes()[0];
    }
    if (stored.length == p.sizes().length) {
      return Arrays.equals(stored, p.sizes());
    }
    return Safetensors.elements(stored) == Safetensors.elements(p.sizes());
  }

  @Override
  public float[] values(Manifest.Entry parameter) {
    BundleIndex.Tensor t = index.tensor(parameter.name());
    float[] v = tensors.read(prefix.toString(), parameter.name(), t.dtype() == DataType.DT_BFLOAT16);
    long n = Safetensors.elements(parameter.sizes());
    return v.length == n ? v : Arrays.copyOf(v, (int) n); // wte: the rows past n_vocab are GPT-Neo's padding
  }

  @Override
  public void close() {
    tensors.close();
  }
}
