package dev.neomesh.models.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.testing.PythonReference;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.interop.Safetensors;
import dev.neomesh.models.train.Adam;
import dev.neomesh.models.train.Optimizer;
import dev.neomesh.models.train.OptimizerSettings;
import dev.neomesh.models.train.StepFeeds;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Tensor;

/**
 * neomesh against an independent PyTorch GPT-Neo ({@code tests/python/gptneo_variants_reference.py},
 * written from GPT-Neo's and Mesh-TensorFlow's code and the papers) for each feature HuggingFace's
 * GPT-Neo lacks, and the MLM masking's statistics.
 *
 * <p>Per feature, the tiny GPT (n_layer 2, n_embd 16, n_head 4, n_ctx 8, n_vocab 64, batch 2, eval
 * mode: no dropout, MoE eval capacity) is built on {@code x:1} and its init is <em>perturbed</em> by
 * one assignment run: every weight matrix is scaled by {@link #WEIGHT_SCALE} (so logits and attention
 * are far from uniform) and every bias, norm gain and ReZero scalar (names ending in {@code /g},
 * {@code /b}, {@code bias}, {@code o_b}) gets {@code + N(0, 0.3)} from a layout-invariant random op
 * (so ReZero's zero gains and the unit norm gains hide nothing). Its loss, logits and every
 * parameter's whole value are then fetched; the weights go to Python as safetensors, the config and
 * batch as JSON. The losses must agree to 1e-4 <em>relative</em> to the float64 reference, every
 * logit to 1e-4 <em>absolute</em> (the logits are O(1)). The logits are the sharp check: with random
 * labels the mean loss moves only to second order when a feature is computed wrong (swapping GLU's
 * halves or not halving macaron's main MLP changes it by about 2e-4 relative, the logits by 2e-2);
 * the loss covers what the logits cannot see, the MLM loss mask and the MoE auxiliary loss (its
 * coefficient is 1 here so it weighs). A combined config repeats this on {@code x:2,y:2} with
 * {@code batch:x,heads:y}. All runs share one Python start (importing torch takes seconds).
 *
 * <p>μP ({@link Mup}) is checked twice: its forward (width and filter multipliers, every scale) like the
 * other features, and one Adam step from its init with μP's per-parameter learning rates against the
 * reference's own step ({@link #adamSteps}).
 */
class VariantReferenceTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final int BATCH = 2;
  static final int SEQUENCE = 8;
  static final int VOCAB = 64;
  static final String TINY = "\"n_head\": 4, \"n_embd\": 16, \"n_layer\": 2, \"n_ctx\": 8, \"n_vocab\": 64";
  static final double TOLERANCE = 1e-4;
  /** The random weight matrices are scaled up by this, so logits and attention are far from uniform. */
  static final double WEIGHT_SCALE = 4.0;

  record Feature(String name, String json, String mesh, String layout) {
    Feature(String name, String json) {
      this(name, json, "x:1", "");
    }
  }

  static final String MOE = "\"moe_layers\": [1], \"moe_params\": {\"moe_num_experts\": 4, \"moe_hidden_size\": 32,"
      + " \"moe_capacity_factor_eval\": 1.5, \"moe_second_policy_eval\": \"threshold\","
      + " \"moe_second_threshold_eval\": 0.3, \"moe_loss_coef\": 1.0}";

  /** μP with Cerebras' keys: width_mult 2, filter_mult 4 (so c_proj's rules differ from c_fc's), every scale set. */
  static final String MUP = "\"mup_base_hidden_size\": 8, \"mup_base_filter_size\": 16, \"embeddings_scale\": 3.0,"
      + " \"output_logits_alpha\": 3.0, \"scale_qk_dot_by_d\": true, \"attention_logits_alpha\": 2.0";

  static List<Feature> features() {
    return List.of(
        new Feature("rotary", "\"rotary_emb\": true"),
        new Feature("axial positions", "\"axial_pos_emb\": [2, 4]"),
        new Feature("linear attention (causal)", "\"attention_types\": [\"linear\", \"linear\"]"),
        new Feature("num_mem_kv", "\"num_mem_kv\": 3"),
        new Feature("scalenorm", "\"scalenorm\": true"),
        new Feature("rezero (over scalenorm)", "\"rezero\": true, \"scalenorm\": true"),
        new Feature("macaron", "\"macaron\": true"),
        new Feature("mlp_glu (silu)", "\"mlp_glu\": true, \"activation_fn\": \"silu\""),
        new Feature("masked LM (non-causal local and linear, loss on masked)",
            "\"mlm_training\": true, \"mlm_mask_id\": 63, \"mlm_mask_prob\": 0.4, \"mlm_random_token_prob\": 0.1,"
                + " \"mlm_mask_ignore_ids\": [5], \"attention_types\": [\"local\", \"linear\"],"
                + " \"local_attention_radius\": 3"),
        new Feature("blocked local attention (radius 4: two blocks of n_ctx 8)",
            "\"attention_types\": [\"local\", \"global\"], \"local_attention_radius\": 4, \"rotary_emb\": true"),
        new Feature("masked LM, blocked non-causal local attention (radius 2: four blocks)",
            "\"mlm_training\": true, \"mlm_mask_id\": 63, \"mlm_mask_prob\": 0.4, \"attention_types\": [\"local\", \"local\"],"
                + " \"local_attention_radius\": 2"),
        new Feature("sparse_topk 3 (explicit sparse attention)", "\"sparse_topk\": 3"),
        new Feature("residual_attn (RealFormer)", "\"residual_attn\": true"),
        new Feature("sparse_topk and residual_attn on x:2,y:2, heads and batch split",
            "\"sparse_topk\": 2, \"residual_attn\": true, \"rotary_emb\": true", "x:2,y:2", "batch:x,heads:y"),
        new Feature("grouped-query attention (n_kv_head 2), rotary, memory key/values",
            "\"n_kv_head\": 2, \"rotary_emb\": true, \"num_mem_kv\": 2"),
        new Feature("multi-query attention (n_kv_head 1), causal linear and global",
            "\"n_kv_head\": 1, \"attention_types\": [\"linear\", \"global\"]"),
        new Feature("grouped-query + rotary + sliding window (blocked local, radius 4) on x:2,y:2, sequence and heads"
            + " split", "\"n_kv_head\": 2, \"rotary_emb\": true, \"attention_types\": [\"local\", \"global\"],"
            + " \"local_attention_radius\": 4", "x:2,y:2", "sequence:x,heads:y"),
        new Feature("muP (width_mult 2, filter_mult 4), embeddings_scale 3, output_logits_alpha 3, scale_qk_dot_by_d,"
            + " attention_logits_alpha 2", MUP),
        new Feature("muP with blocked local (radius 4) and global, rotary, memory key/values, no_weight_tie on x:2,y:2",
            MUP + ", \"attention_types\": [\"local\", \"global\"], \"local_attention_radius\": 4, \"rotary_emb\": true,"
                + " \"num_mem_kv\": 2, \"no_weight_tie\": true", "x:2,y:2", "batch:x,heads:y"),
        new Feature("muP (width_mult 4) with causal linear and global, grouped-query, attention_logits_alpha 0.5 folded",
            "\"mup_base_hidden_size\": 4, \"attention_logits_alpha\": 0.5, \"output_logits_alpha\": 2.0,"
                + " \"embeddings_scale\": 2.0, \"attention_types\": [\"linear\", \"global\"], \"n_kv_head\": 2"),
        new Feature("MoE (top-2, threshold second expert, capacity 3 with drops, aux loss)", MOE),
        new Feature("combined on x:2,y:2 (rotary, mem_kv, macaron, glu, rezero, MoE)",
            "\"rotary_emb\": true, \"num_mem_kv\": 2, \"macaron\": true, \"mlp_glu\": true, \"rezero\": true, " + MOE,
            "x:2,y:2", "batch:x,heads:y"));
  }

  /**
   * One Adam step from the μP init (not perturbed: the point is the step) against the reference's own
   * step with μP's per-parameter learning rates, GPT-Neo's Adam (no bias correction) with weight decay.
   */
  static List<Feature> adamSteps() {
    return List.of(
        new Feature("Adam step, muP rates (width_mult 2, filter_mult 4), weight decay, macaron", MUP + ", \"macaron\": true"),
        new Feature("Adam step, muP rates, mlp_glu, no_weight_tie, on x:2,y:2",
            MUP + ", \"mlp_glu\": true, \"no_weight_tie\": true", "x:2,y:2", "batch:x,heads:y"));
  }

  static final double STEP_LR = 0.01;
  static final double STEP_EPSILON = 1e-5;
  static final double STEP_WEIGHT_DECAY = 0.1;

  /** neomesh's loss and logits (float32 [batch, sequence, vocab]) and the reference's output, per feature. */
  record Result(double loss, double[] logits, JsonNode reference) {}

  /** What {@link #exportRun} returns: neomesh's loss and logits. */
  record Neomesh(double loss, double[] logits) {}

  /** Builds and exports every feature's run, then runs the reference once for all of them. */
  static Map<String, Result> runAll(Path dir) throws IOException {
    PythonReference py = PythonReference.require("torch", "safetensors");
    List<String> args = new ArrayList<>();
    List<Neomesh> runs = new ArrayList<>();
    int i = 0;
    List<Feature> all = new ArrayList<>(features());
    all.addAll(adamSteps());
    for (Feature f : all) {
      Path weights = dir.resolve("weights" + i + ".safetensors");
      Path run = dir.resolve("run" + i + ".json");
      runs.add(i < features().size() ? exportRun(f, weights, run)
          : exportAdamStep(f, weights, dir.resolve("after" + i + ".safetensors"), run));
      args.add(weights.toString());
      args.add(run.toString());
      i++;
    }
    List<String> lines = py.run("gptneo_variants_reference.py", Duration.ofMinutes(2), args.toArray(String[]::new))
        .strip().lines().toList();
    assertEquals(all.size(), lines.size(), "one line per run: " + lines);
    Map<String, Result> results = new LinkedHashMap<>();
    for (int k = 0; k < lines.size(); k++) {
      Neomesh n = runs.get(k);
      results.put(all.get(k).name(), new Result(n.loss(), n.logits(), JSON.readTree(lines.get(k))));
    }
    return results;
  }

  @TestFactory
  Stream<DynamicTest> lossAndLogitsEqualTheReference(@TempDir Path dir) throws IOException {
    Map<String, Result> results = runAll(dir);
    return Stream.concat(features().stream().map(f -> lossAndLogits(f, results)),
        adamSteps().stream().map(f -> adamStep(f, results)));
  }

  /**
   * The step's loss before and after against the reference's (1e-4 relative), and every element's
   * update to 1e-3 of lr; the same updates at one rate for every parameter miss the reference by
   * more than 0.1 lr, so the comparison sees μP's rates.
   */
  static DynamicTest adamStep(Feature f, Map<String, Result> results) {
    return DynamicTest.dynamicTest(f.name() + " on " + f.mesh(), () -> {
      Result r = results.get(f.name());
      JsonNode step = r.reference().get("step");
      double before = r.reference().get("loss").asDouble();
      double after = step.get("loss_after").asDouble();
      double nmAfter = r.logits()[0]; // exportAdamStep keeps the loss after the step here
      System.out.printf("VariantReferenceTest %-70s loss neomesh %.8f reference %.8f; after the step neomesh %.8f"
              + " reference %.8f; update |diff| / lr %.2e (in %s), against uniform rates %.2e (in %s)%n", f.name(),
          r.loss(), before, nmAfter, after, step.get("max_update_diff").asDouble(),
          step.get("max_update_diff_in").asText(), step.get("uniform_update_diff").asDouble(),
          step.get("uniform_update_diff_in").asText());
      assertEquals(before, r.loss(), TOLERANCE * before, f.name() + ": loss before the step");
      assertEquals(after, nmAfter, TOLERANCE * after, f.name() + ": loss after the step");
      assertTrue(Math.abs(before - after) > 100 * TOLERANCE * before, "the step must move the loss: " + before
          + " -> " + after);
      assertTrue(step.get("max_update_diff").asDouble() <= 1e-3, f.name() + ": update of "
          + step.get("max_update_diff_in").asText() + " differs from the reference's by "
          + step.get("max_update_diff").asDouble() + " lr");
      assertTrue(step.get("uniform_update_diff").asDouble() > 0.1, "one rate for every parameter must miss: "
          + step.get("uniform_update_diff").asDouble());
    });
  }

  static DynamicTest lossAndLogits(Feature f, Map<String, Result> results) {
    return DynamicTest.dynamicTest(f.name() + " on " + f.mesh(), () -> {
      Result r = results.get(f.name());
      double ref = r.reference().get("loss").asDouble();
      double diff = Math.abs(r.loss() - ref);
      JsonNode refLogits = r.reference().get("logits");
      assertEquals(r.logits().length, refLogits.size(), "logits [batch, sequence, vocab]");
      double logitDiff = 0;
      double logitMax = 0;
      int worst = 0;
      for (int k = 0; k < r.logits().length; k++) {
        double d = Math.abs(r.logits()[k] - refLogits.get(k).asDouble());
        worst = d > logitDiff ? k : worst;
        logitDiff = Math.max(logitDiff, d);
        logitMax = Math.max(logitMax, Math.abs(refLogits.get(k).asDouble()));
      }
      System.out.printf("VariantReferenceTest %-70s loss neomesh %.8f reference %.8f |diff| %.2e relative %.2e;"
              + " logits max |diff| %.2e (largest %.3f); aux %.5f dropped %d skipped %d%n", f.name(), r.loss(), ref, diff,
          diff / Math.abs(ref), logitDiff, logitMax, r.reference().get("aux_loss").asDouble(),
          r.reference().get("moe_dropped").asInt(), r.reference().get("moe_second_skipped").asInt());
      assertTrue(Double.isFinite(ref) && ref > 0, f.name() + ": reference loss " + ref);
      assertEquals(ref, r.loss(), TOLERANCE * Math.abs(ref), f.name() + ": loss against the PyTorch reference");
      assertTrue(logitDiff <= TOLERANCE, f.name() + ": logit " + worst + " is " + r.logits()[worst] + ", the reference "
          + refLogits.get(worst).asDouble() + " (tolerance " + TOLERANCE + " absolute)");
      if (f.json().contains("moe_layers")) {
        assertTrue(r.reference().get("moe_dropped").asInt() > 0, "the MoE config must drop tokens past capacity");
        assertTrue(r.reference().get("moe_second_skipped").asInt() > 0, "the threshold policy must skip a second expert");
      }
    });
  }

  /**
   * Builds the feature's GPT on its mesh with GPT-Neo's Adam ({@link #STEP_LR}, betas 0.9 and 0.95,
   * {@link #STEP_EPSILON}, weight decay {@link #STEP_WEIGHT_DECAY} where {@link Gpt#skipsWeightDecay}
   * allows, μP's per-parameter rates {@link Gpt#lrMultiplier}, the fused kernel), writes the initial
   * weights to {@code weights}, runs one step and writes the weights after it to {@code after}, and the
   * config, batch, Adam's settings and {@code after}'s path to {@code run}. Returns the loss before the
   * step and, as the only "logit", the loss after it.
   */
  static Neomesh exportAdamStep(Feature f, Path weights, Path after, Path run) throws IOException {
    String json = "{" + TINY + ", " + f.json() + "}";
    GptConfig cfg = GptConfig.fromJson(json);
    MeshGraph g = new MeshGraph(4321);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", BATCH), new Dim("sequence", SEQUENCE));
    MeshTensor tokens = m.importTensor("tokens", shape, DType.INT32);
    MeshTensor labels = m.importTensor("labels", shape, DType.INT32);
    Gpt gpt = Gpt.build(m, cfg, tokens, labels, true);
    List<MeshTensor> params = gpt.parameters();
    List<String> names = params.stream().map(v -> m.variableOp(v).name()).toList();
    StepFeeds feeds = new StepFeeds(m);
    MeshTensor lr = feeds.scalar("lr", t -> STEP_LR);
    OptimizerSettings settings = OptimizerSettings.adam(0.9, 0.95, STEP_EPSILON, STEP_WEIGHT_DECAY);
    new Adam(settings, p -> !Gpt.skipsWeightDecay(Optimizer.nameOf(m, p)), p -> gpt.lrMultiplier(Optimizer.nameOf(m, p)))
        .apply(m, params, Gradients.of(gpt.loss(), params), lr, feeds);
    int[] tok = tokens(1);
    int[] lab = tokens(2);
    List<double[]> initial;
    List<double[]> stepped;
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(f.mesh()), LayoutRules.parse(f.layout()));
         Tensor t = HostTensors.ofInts(shape, tok);
         Tensor l = HostTensors.ofInts(shape, lab)) {
      rt.initialize();
      MeshRuntime.Step before = rt.step().feed(tokens, t).feed(labels, l).fetch(gpt.loss());
      params.forEach(before::fetch);
      initial = before.run();
      MeshRuntime.Step train = rt.step().feed(tokens, t).feed(labels, l).fetch(gpt.loss()).withUpdates();
      List<Tensor> fed = feeds.feed(train, 0);
      train.run();
      fed.forEach(Tensor::close);
      MeshRuntime.Step next = rt.step().feed(tokens, t).feed(labels, l).fetch(gpt.loss());
      params.forEach(next::fetch);
      stepped = next.run();
    }
    write(weights, names, params, initial.subList(1, initial.size()));
    write(after, names, params, stepped.subList(1, stepped.size()));
    ObjectNode doc = JSON.createObjectNode();
    doc.set("config", JSON.readTree(json));
    doc.set("tokens", rows(tok));
    doc.set("labels", rows(lab));
    ObjectNode adam = doc.putObject("adam");
    adam.put("lr", STEP_LR).put("beta1", 0.9).put("beta2", 0.95).put("epsilon", STEP_EPSILON)
        .put("weight_decay", STEP_WEIGHT_DECAY);
    doc.put("after_weights", after.toString());
    Files.writeString(run, JSON.writeValueAsString(doc));
    return new Neomesh(initial.get(0)[0], new double[] {stepped.get(0)[0]});
  }

  /** Every parameter's fetched value as float32 safetensors under its name. */
  static void write(Path file, List<String> names, List<MeshTensor> params, List<double[]> values) throws IOException {
    Map<String, long[]> shapes = new LinkedHashMap<>();
    for (int i = 0; i < params.size(); i++) {
      shapes.put(names.get(i), params.get(i).shape().sizes());
    }
    try (Safetensors.Writer w = Safetensors.create(file, shapes, Map.of("format", "pt"))) {
      for (int i = 0; i < params.size(); i++) {
        double[] v = values.get(i);
        float[] fv = new float[v.length];
        for (int k = 0; k < v.length; k++) {
          fv[k] = (float) v[k];
        }
        w.write(names.get(i), fv);
      }
    }
  }

  /**
   * The masking's statistics, which the loss comparison takes as given: on 128 x 128 tokens (a tenth
   * 0, a tenth each of the ignore ids 5 and 7), 0 and the ignore ids are never masked; the masked
   * fraction of the maskable tokens is mlm_mask_prob (0.15, to 0.01, about 4 sigma); random tokens
   * come from [1, V) (V = 64, so 63 values) and a drawn ignore id falls back to the mask id, so of the
   * masked tokens p_same + p_rand/63 stay themselves, p_rand 59/63 become another random token and
   * the rest becomes mlm_mask_id (p_same 0.1, p_rand 0.2, each to 0.03); no masked position is fed 0
   * or an ignore id; every unmasked token is fed unchanged and every fed token is in [0, V).
   */
  @Test
  void mlmMaskingStatistics() {
    int n = 128;
    int maskId = 63;
    GptConfig cfg = GptConfig.fromJson("{" + TINY + ", \"mlm_training\": true, \"mlm_mask_id\": 63,"
        + " \"mlm_mask_prob\": 0.15, \"mlm_same_token_prob\": 0.1, \"mlm_random_token_prob\": 0.2,"
        + " \"mlm_mask_ignore_ids\": [5, 7]}");
    MeshGraph g = new MeshGraph(99);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", n), new Dim("sequence", n));
    MeshTensor tokens = m.importTensor("tokens", shape, DType.INT32);
    Mlm.Masked masked = Mlm.mask(new ModelBuilder(m, cfg, shape.dim("batch"), shape.dim("sequence"), false), tokens);
    Random r = new Random(3);
    int[] tok = new int[n * n];
    for (int i = 0; i < tok.length; i++) {
      int kind = r.nextInt(10);
      tok[i] = kind == 0 ? 0 : kind == 1 ? 5 : kind == 2 ? 7 : 1 + r.nextInt(VOCAB - 1);
    }
    List<double[]> out;
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse("x:1"), LayoutRules.parse(""));
         Tensor t = HostTensors.ofInts(shape, tok)) {
      rt.initialize();
      out = rt.step().feed(tokens, t).fetch(masked.inputs()).fetch(masked.lossWeights()).run();
    }
    double[] inputs = out.get(0);
    double[] weights = out.get(1);
    int maskable = 0;
    int nMasked = 0;
    int same = 0;
    int mask = 0;
    for (int i = 0; i < tok.length; i++) {
      boolean canMask = tok[i] != 0 && tok[i] != 5 && tok[i] != 7;
      boolean isMasked = weights[i] > 0;
      assertTrue(canMask || !isMasked, "token " + tok[i] + " at " + i + " must never be masked");
      assertTrue(inputs[i] >= 0 && inputs[i] < VOCAB, "fed token " + inputs[i] + " out of range");
      maskable += canMask ? 1 : 0;
      if (!isMasked) {
        assertEquals(tok[i], (int) inputs[i], "unmasked token " + i + " must be fed unchanged");
        continue;
      }
      nMasked++;
      same += (int) inputs[i] == tok[i] ? 1 : 0;
      mask += (int) inputs[i] == maskId && tok[i] != maskId ? 1 : 0;
      int fed = (int) inputs[i];
      assertTrue(fed == tok[i] || fed != 0 && fed != 5 && fed != 7, "masked token " + i + " fed as " + fed
          + ": a random substitution must not be 0 or an ignore id");
    }
    double fraction = (double) nMasked / maskable;
    double fSame = (double) same / nMasked;
    double fMask = (double) mask / nMasked;
    double fRandom = 1 - fSame - fMask;
    System.out.printf("VariantReferenceTest MLM masking: %d maskable, masked %.4f, same %.4f, random %.4f, mask id %.4f%n",
        maskable, fraction, fSame, fRandom, fMask);
    assertEquals(0.15, fraction, 0.01, "masked fraction of the maskable tokens");
    assertEquals(0.1 + 0.2 / 63, fSame, 0.03, "masked tokens fed as themselves");
    assertEquals(0.2 * 59 / 63, fRandom, 0.03, "masked tokens fed as another random token");
    assertEquals(0.7 + 0.2 * 3 / 63, fMask, 0.03, "masked tokens fed as mlm_mask_id");
    double total = 0;
    for (double w : weights) {
      total += w;
    }
    assertEquals(1.0, total, 1e-5, "the loss weights are 1/count on the masked positions");
  }

  /**
   * Builds the feature's GPT on its mesh, perturbs the initial weights (see the class comment),
   * writes every parameter to {@code weights} and the config and batch to {@code run}, and returns
   * neomesh's loss and logits.
   */
  static Neomesh exportRun(Feature f, Path weights, Path run) throws IOException {
    String json = "{" + TINY + ", " + f.json() + "}";
    GptConfig cfg = GptConfig.fromJson(json);
    MeshGraph g = new MeshGraph(4321);
    MeshOps m = new MeshOps(g);
    Shape shape = Shape.of(new Dim("batch", BATCH), new Dim("sequence", SEQUENCE));
    MeshTensor tokens = m.importTensor("tokens", shape, DType.INT32);
    MeshTensor labels = m.importTensor("labels", shape, DType.INT32);
    Gpt gpt = Gpt.build(m, cfg, tokens, labels, false);
    // The same keyed random ops as Gpt's own masking, so these are the inputs and mask it used.
    Mlm.Masked masked = cfg.mlmTraining()
        ? Mlm.mask(new ModelBuilder(m, cfg, shape.dim("batch"), shape.dim("sequence"), false), tokens) : null;
    List<MeshTensor> params = gpt.parameters();
    List<String> names = params.stream().map(v -> m.variableOp(v).name()).toList();
    for (int i = 0; i < params.size(); i++) {
      String n = names.get(i);
      MeshTensor v = params.get(i);
      boolean filled = n.endsWith("/g") || n.endsWith("/b") || n.endsWith("bias") || n.endsWith("o_b");
      m.assign(v, filled ? m.add(v, m.randomNormal(v.shape(), DType.FLOAT32, n + "/perturb", 0.0, 0.3))
          : m.mul(v, WEIGHT_SCALE));
    }
    int[] tok = tokens(1);
    int[] lab = tokens(2);
    List<double[]> out;
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(f.mesh()), LayoutRules.parse(f.layout()));
         Tensor t = HostTensors.ofInts(shape, tok);
         Tensor l = HostTensors.ofInts(shape, lab)) {
      rt.initialize();
      rt.step().feed(tokens, t).feed(labels, l).fetch(gpt.loss()).withUpdates().run(); // the perturbation
      MeshRuntime.Step step = rt.step().feed(tokens, t).feed(labels, l).fetch(gpt.loss()).fetch(gpt.logits());
      params.forEach(step::fetch);
      if (masked != null) {
        step.fetch(masked.inputs()).fetch(masked.lossWeights());
      }
      out = step.run();
    }
    Map<String, long[]> shapes = new LinkedHashMap<>();
    for (int i = 0; i < params.size(); i++) {
      shapes.put(names.get(i), params.get(i).shape().sizes());
    }
    try (Safetensors.Writer w = Safetensors.create(weights, shapes, Map.of("format", "pt"))) {
      for (int i = 0; i < params.size(); i++) {
        double[] v = out.get(2 + i);
        float[] fv = new float[v.length];
        for (int k = 0; k < v.length; k++) {
          fv[k] = (float) v[k];
        }
        w.write(names.get(i), fv);
      }
    }
    ObjectNode doc = JSON.createObjectNode();
    doc.set("config", JSON.readTree(json));
    if (masked != null) { // masked inputs fed, original tokens as labels, loss on the masked positions
      double[] inputs = out.get(2 + params.size());
      double[] lossWeights = out.get(3 + params.size());
      int[] mask = new int[lossWeights.length];
      int[] in = new int[inputs.length];
      for (int k = 0; k < mask.length; k++) {
        mask[k] = lossWeights[k] > 0 ? 1 : 0;
        in[k] = (int) inputs[k];
      }
      doc.set("tokens", rows(in));
      doc.set("labels", rows(tok));
      doc.set("loss_mask", rows(mask));
    } else {
      doc.set("tokens", rows(tok));
      doc.set("labels", rows(lab));
    }
    Files.writeString(run, JSON.writeValueAsString(doc));
    return new Neomesh(out.get(0)[0], out.get(1));
  }

  static JsonNode rows(int[] flat) {
    int[][] r = new int[BATCH][SEQUENCE];
    for (int k = 0; k < flat.length; k++) {
      r[k / SEQUENCE][k % SEQUENCE] = flat[k];
    }
    return JSON.valueToTree(r);
  }

  /** Tokens in [1, 63): never 0 or the MLM mask id 63; id 5 (an MLM ignore id) appears. */
  static int[] tokens(long seed) {
    Random r = new Random(seed);
    int[] t = new int[BATCH * SEQUENCE];
    for (int i = 0; i < t.length; i++) {
      t[i] = i % 5 == 0 ? 5 : 1 + r.nextInt(VOCAB - 2);
    }
    return t;
  }
}
