package dev.neomesh.models.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The mixture-of-experts settings of {@code moe_params}, with Mesh-TensorFlow's defaults (16 experts,
 * top-2 gating, capacity factor 1.25 in training and 2.0 otherwise, hidden 4096, group 1024, loss
 * coefficient 1e-2, second expert kept with policy "random" and threshold 0.2). GPT-Neo requires
 * {@code moe_dropout_rate} in {@code moe_params}; here it defaults to 0. {@code moe_group_size} is
 * accepted and checked but has no effect ({@link #IGNORED} says why).
 */
public record MoeParams(int numExperts, double lossCoef, String gating, double capacityFactorTrain,
                        double capacityFactorEval, int hiddenSize, String secondPolicyTrain,
                        String secondPolicyEval, double secondThresholdTrain, double secondThresholdEval,
                        int minExpertCapacity, double dropoutRate) {

  static final Map<String, Object> DEFAULTS = new LinkedHashMap<>();

  static {
    DEFAULTS.put("moe_num_experts", 16);
    DEFAULTS.put("moe_loss_coef", 1e-2);
    DEFAULTS.put("moe_gating", "top_2");
    DEFAULTS.put("moe_capacity_factor_train", 1.25);
    DEFAULTS.put("moe_capacity_factor_eval", 2.0);
    DEFAULTS.put("moe_hidden_size", 4096);
    DEFAULTS.put("moe_group_size", 1024);
    DEFAULTS.put("moe_second_policy_train", "random");
    DEFAULTS.put("moe_second_policy_eval", "random");
    DEFAULTS.put("moe_second_threshold_train", 0.2);
    DEFAULTS.put("moe_second_threshold_eval", 0.2);
    DEFAULTS.put("moe_min_expert_capacity", 1);
    DEFAULTS.put("moe_dropout_rate", 0.0);
  }

  /** The keys of {@code moe_params} that have no effect, with why (for {@link GptConfig#ignoredKeysWarning}). */
  static final Map<String, String> IGNORED = Map.of("moe_group_size",
      "one expert group per sequence, so the model does not depend on the layout");

  static final List<String> POLICIES = List.of("all", "none", "threshold", "random");

  static MoeParams of(Map<String, Object> given, String source) {
    Map<String, Object> v = new LinkedHashMap<>(DEFAULTS);
    for (Map.Entry<String, Object> e : given.entrySet()) {
      Object def = DEFAULTS.get(e.getKey());
      String where = "model config " + source + ": moe_params." + e.getKey();
      if (def == null) {
        throw new ConfigException("model config " + source + ": unknown key \"moe_params." + e.getKey()
            + "\"; did you mean \"" + ConfigKeys.closest(e.getKey(), DEFAULTS.keySet()) + "\"? (known: "
            + String.join(", ", DEFAULTS.keySet()) + ")");
      }
      Object x = e.getValue();
      if (def instanceof Integer && !(x instanceof Integer)
          || def instanceof Double && !(x instanceof Number)
          || def instanceof String && !(x instanceof String)) {
        throw new ConfigException(where + " must be " + (def instanceof Integer ? "an integer"
            : def instanceof Double ? "a number" : "a string") + ", got " + x);
      }
      v.put(e.getKey(), x);
    }
    MoeParams p = new MoeParams((Integer) v.get("moe_num_experts"), num(v, "moe_loss_coef"),
        (String) v.get("moe_gating"), num(v, "moe_capacity_factor_train"), num(v, "moe_capacity_factor_eval"),
        (Integer) v.get("moe_hidden_size"), (String) v.get("moe_second_policy_train"),
        (String) v.get("moe_second_policy_eval"),
        num(v, "moe_second_threshold_train"), num(v, "moe_second_threshold_eval"),
        (Integer) v.get("moe_min_expert_capacity"), num(v, "moe_dropout_rate"));
    String pre = "model config " + source + ": moe_params.";
    if (p.numExperts() < 1 || p.hiddenSize() < 1 || (Integer) v.get("moe_group_size") < 1
        || p.minExpertCapacity() < 1) {
      throw new ConfigException(pre + "moe_num_experts, moe_hidden_size, moe_group_size and moe_min_expert_capacity"
          + " must be positive");
    }
    if (!p.gating().equals("top_2")) {
      throw new ConfigException(pre + "moe_gating is \"" + p.gating() + "\"; neomesh implements \"top_2\" only");
    }
    for (String pol : List.of(p.secondPolicyTrain(), p.secondPolicyEval())) {
      if (!POLICIES.contains(pol)) {
        throw new ConfigException(pre + "moe_second_policy_* is \"" + pol + "\"; allowed: " + String.join(", ", POLICIES));
      }
    }
    if (p.dropoutRate() < 0 || p.dropoutRate() >= 1) {
      throw new ConfigException(pre + "moe_dropout_rate must be in [0, 1), got " + p.dropoutRate());
    }
    return p;
  }

  private static double num(Map<String, Object> v, String k) {
    return ((Number) v.get(k)).doubleValue();
  }
}
