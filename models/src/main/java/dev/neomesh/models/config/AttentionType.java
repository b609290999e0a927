package dev.neomesh.models.config;

/**
 * One layer's attention, as {@code attention_types} names it (the JSON name is the constant's name in
 * lower case): {@code global}, causal softmax attention over every earlier position; {@code local}, the
 * same within {@code local_attention_radius}; {@code linear}, kernelised attention without a softmax
 * over keys; {@code none}, a block without attention.
 */
public enum AttentionType {
  GLOBAL, LOCAL, LINEAR, NONE
}
