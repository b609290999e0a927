package dev.neomesh.models.config;

import dev.neomesh.models.train.OptimizerSettings;
import java.util.List;

/**
 * The rules a config's values must keep beyond their types, checked when it is read so that a bad
 * value stops the run before any work: the five required shape keys and n_embd divisible by n_head
 * ({@link #shape}), then ranges and the rules between keys ({@link #values}). Each message names the
 * key, the value and what is allowed.
 */
final class ConfigChecks {
  private ConfigChecks() {}

  /** The shape keys every config needs: present, positive, and n_embd divisible by n_head. */
  static void shape(KeyValues v) {
    for (String req : List.of("n_head", "n_embd", "n_layer", "n_ctx", "n_vocab")) {
      if (!v.has(req)) {
        throw v.error("missing required key \"" + req + "\" (a positive integer)");
      }
      positive(v, req);
    }
    if (v.i("n_embd") % v.i("n_head") != 0) {
      throw v.error("n_embd (" + v.i("n_embd") + ") must be divisible by n_head (" + v.i("n_head") + ")");
    }
    if (v.has("n_kv_head")) {
      positive(v, "n_kv_head");
      if (v.i("n_head") % v.i("n_kv_head") != 0) {
        throw v.error("n_kv_head (" + v.i("n_kv_head") + ") must divide n_head (" + v.i("n_head") + "): each key/value"
            + " head serves the same number of query heads. Use a divisor of " + v.i("n_head") + " (1 is multi-query,"
            + " n_head is multi-head attention)");
      }
    }
  }

  /** Ranges of single keys, then the rules between keys. */
  static void values(KeyValues v) {
    for (String k : List.of("local_attention_radius", "train_batch_size", "eval_batch_size", "predict_batch_size",
        "iterations", "tokens_per_mb_per_replica", "lr_decay_end", "predict_max_steps")) {
      positive(v, k);
    }
    for (String k : List.of("num_mem_kv", "sparse_topk", "warmup_steps", "train_steps", "eval_steps", "predict_steps", "lr",
        "weight_decay", "epsilon", "ada_epsilon1", "ada_epsilon2", "gradient_clipping", "z_loss")) {
      nonNegative(v, k);
    }
    for (String k : List.of("embed_dropout", "res_dropout", "attn_dropout")) {
      probability(v, k, false);
    }
    for (String k : List.of("beta1", "beta2", "mlm_mask_prob", "mlm_same_token_prob", "mlm_random_token_prob")) {
      probability(v, k, true);
    }
    if (v.has("activation_fn") && v.has("activation_function")
        && !v.get("activation_fn").equals(v.get("activation_function"))) {
      throw v.error("activation_fn is \"" + v.json().get("activation_fn").asText() + "\" but its alias "
          + "activation_function is \"" + v.json().get("activation_function").asText() + "\": keep one of them");
    }
    int nCtx = v.i("n_ctx");
    List<Integer> axial = v.ints("axial_pos_emb");
    if (!axial.isEmpty() && (axial.size() != 2 || axial.get(0) <= 0 || axial.get(1) <= 0
        || (long) axial.get(0) * axial.get(1) < nCtx)) {
      throw v.error("axial_pos_emb must be two positive integers [a1, a2] with a1*a2 >= n_ctx (" + nCtx + "), got "
          + axial);
    }
    int nLayer = v.i("n_layer");
    for (int l : v.ints("moe_layers")) {
      if (l < 0 || l >= nLayer) {
        throw v.error("moe_layers names layer " + l + " but layers are 0.." + (nLayer - 1));
      }
    }
    for (String t : v.strings("eval_tasks")) {
      if (!t.equals("lambada")) {
        throw v.error("eval_tasks: unknown task \"" + t + "\"; the only task is \"lambada\"");
      }
    }
    int zero = v.i("zero_stage");
    if (zero < 0 || zero > 3) {
      throw v.error("zero_stage must be 0 (no sharding), 1 (optimizer state sharded over the data-parallel axis), 2"
          + " (also the gradients) or 3 (also the parameters), got " + zero);
    }
    if (v.i("sparse_topk") > 0 && v.i("num_mem_kv") > 0) {
      throw v.error("sparse_topk (" + v.i("sparse_topk") + ") and num_mem_kv (" + v.i("num_mem_kv") + ") do not "
          + "combine: the top k would have to rank the memory keys with the sequence's. Set one of them to 0");
    }
    if (v.b("residual_attn") && v.i("num_mem_kv") > 0) {
      throw v.error("residual_attn does not combine with num_mem_kv (" + v.i("num_mem_kv") + "): the memory keys' "
          + "scores have no counterpart in the next layer. Set num_mem_kv to 0 or residual_attn to false");
    }
    mup(v);
    if (v.b("mlm_training") && !v.has("mlm_mask_id")) {
      throw v.error("mlm_training is true but mlm_mask_id is missing: give the token id that replaces masked tokens");
    }
    for (Object d : (List<?>) v.get("datasets")) {
      if (!(d instanceof String) && !(d instanceof List<?> item && !item.isEmpty() && item.get(0) instanceof String)) {
        throw v.error("datasets: each item must be a dataset id or [id, stitch, mode, weight], got " + d);
      }
    }
  }

  /**
   * μP's keys: the base sizes positive, the base filter size only with the base width, the three
   * scales positive, and Adam as the optimizer (μP's learning-rate rule, lr / width_mult for hidden
   * matrices, is Adam's; SGD and Adafactor need other rules).
   */
  private static void mup(KeyValues v) {
    positive(v, "mup_base_hidden_size");
    positive(v, "mup_base_filter_size");
    for (String k : List.of("embeddings_scale", "output_logits_alpha", "attention_logits_alpha")) {
      Object x = v.get(k);
      if (!(((Number) x).doubleValue() > 0) || Double.isInfinite(((Number) x).doubleValue())) {
        throw v.error("key \"" + k + "\" must be a positive number, got " + x);
      }
    }
    if (v.has("mup_base_filter_size") && !v.has("mup_base_hidden_size")) {
      throw v.error("mup_base_filter_size (" + v.i("mup_base_filter_size") + ") is set but mup_base_hidden_size is not:"
          + " muP is on only with its base width. Set mup_base_hidden_size too, or drop mup_base_filter_size");
    }
    OptimizerSettings.Kind opt = v.choice("opt_name", OptimizerSettings.Kind.class);
    if (v.has("mup_base_hidden_size") && opt != OptimizerSettings.Kind.ADAM) {
      throw v.error("mup_base_hidden_size (muP) needs opt_name \"adam\", got \"" + ConfigKeys.jsonName(opt) + "\": muP's"
          + " learning rates (lr / width_mult for hidden matrices, lr for vectors) are Adam's rule, and "
          + ConfigKeys.jsonName(opt) + " needs another. Set opt_name to \"adam\" or drop mup_base_hidden_size");
    }
  }

  private static void positive(KeyValues v, String key) {
    if (v.present().get(key) instanceof Integer i && i <= 0) {
      throw v.error("key \"" + key + "\" must be positive, got " + i);
    }
  }

  private static void nonNegative(KeyValues v, String key) {
    Object x = v.present().get(key);
    if (x instanceof Number n && n.doubleValue() < 0) {
      throw v.error("key \"" + key + "\" must not be negative, got " + x);
    }
  }

  private static void probability(KeyValues v, String key, boolean allowOne) {
    Object x = v.present().get(key);
    if (x instanceof Number n && (n.doubleValue() < 0 || n.doubleValue() > 1 || !allowOne && n.doubleValue() == 1)) {
      throw v.error("key \"" + key + "\" must be in [0, 1" + (allowOne ? "]" : ")") + ", got " + x);
    }
  }
}
