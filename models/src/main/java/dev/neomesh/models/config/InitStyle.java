package dev.neomesh.models.config;

/**
 * neomesh's {@code init_style} key: {@code gpt_neo} (the default), GPT-Neo's initialisation, or
 * {@code nanogpt}, nanoGPT's N(0, 0.02) weights with the scores scaled in the forward pass
 * ({@code dev.neomesh.models.gpt.ModelBuilder#nanoGptInit} says exactly what differs).
 */
public enum InitStyle {
  GPT_NEO, NANOGPT
}
