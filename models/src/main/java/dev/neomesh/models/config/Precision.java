package dev.neomesh.models.config;

/**
 * The activation dtype of {@code precision}: {@code float32} (also written {@code fp32}, GPT-Neo's
 * default) or {@code bfloat16}, where activations are bf16 and variables stay float32; and the
 * parameters' dtype of {@code parameter_precision} (neomesh's key), where bfloat16 parameters are
 * trained through float32 masters held with the optimizer state.
 */
public enum Precision {
  FLOAT32, BFLOAT16
}
