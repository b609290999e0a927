package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.neomesh.mesh.ckpt.BundleIndex;
import dev.neomesh.mesh.testing.PythonReference;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DataType;

/**
 * The GPT-Neo checkpoint fixture ({@code tests/python/make_gptneo_tf_checkpoint.py}) as an import
 * test sees it from this module: its {@code weights.json} side file lists exactly the checkpoint's
 * model weights, with the index's shapes and dtype and one value per element, and its
 * {@code skipped} list is everything else in the index (global_step, the Adam slots).
 */
class GptNeoTfFixtureTest {
  @TempDir
  Path tmp;

  @Test
  void weightsJsonDescribesTheCheckpoint() throws IOException {
    PythonReference py = PythonReference.require("tensorflow", "numpy");
    Path out = tmp.resolve("gptneo");
    py.run("make_gptneo_tf_checkpoint.py", Duration.ofMinutes(3), out.toString(), "--n_layer", "1", "--n_embd", "8",
        "--n_head", "2", "--n_ctx", "16", "--vocab", "20", "--padded_vocab", "24", "--seed", "1", "--step", "5");
    JsonNode json = new ObjectMapper().readTree(out.resolve("weights.json").toFile());
    BundleIndex index = BundleIndex.read(out.resolve(json.get("checkpoint").asText()));
    assertEquals("model.ckpt-5", json.get("checkpoint").asText());

    List<String> listed = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = json.get("tensors").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      listed.add(e.getKey());
      BundleIndex.Tensor t = index.tensor(e.getKey());
      assertNotNull(t, e.getKey());
      long[] shape = StreamSupport.stream(e.getValue().get("shape").spliterator(), false).mapToLong(JsonNode::asLong)
          .toArray();
      assertArrayEquals(t.shape(), shape, e.getKey());
      assertEquals(DataType.DT_BFLOAT16, t.dtype(), e.getKey());
      long elements = 1;
      for (long d : shape) {
        elements *= d;
      }
      assertEquals(elements, e.getValue().get("values").size(), e.getKey());
    }
    assertEquals(17, listed.size(), "wte, wpe, ln_f g and b, and one block's 13 weights");
    StreamSupport.stream(json.get("skipped").spliterator(), false).forEach(n -> listed.add(n.asText()));
    assertEquals(index.tensors().stream().map(BundleIndex.Tensor::name).sorted().toList(),
        listed.stream().sorted().toList(), "weights.json's tensors and skipped names cover the index exactly");
  }
}
