package dev.neomesh.models.config;

/**
 * The activations {@code activation_fn} and {@code moe_activation} accept: GPT-Neo's common ones (its
 * exotic ones such as snake and prelu are rejected with this list). The JSON name is the constant's
 * name in lower case; {@code swish} is accepted as another name of {@code silu}. The math of each is in
 * the model ({@code dev.neomesh.models.gpt.ModelBuilder#activation}).
 */
public enum Activation {
  GELU, RELU, SIGMOID, TANH, SELU, ELU, ABS, SIN, COS, SIGN, SILU, SOFTPLUS, SOFTSIGN, MISH, SQUARE, IDENTITY,
  /** Leaky ReLU with slope 0.01. */
  LRELU001,
  /** Leaky ReLU with slope 0.1. */
  LRELU01,
  /** Leaky ReLU with slope 0.2. */
  LRELU020
}
