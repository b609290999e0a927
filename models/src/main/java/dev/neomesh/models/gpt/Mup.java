package dev.neomesh.models.gpt;

import dev.neomesh.models.config.GptConfig;

/**
 * The maximal-update parametrisation (μP; Yang et al. 2022, "Tensor Programs V", arXiv:2203.03466)
 * with Cerebras' GPT-3 keys, and the scales those keys set, in one place. μP is on when
 * {@code mup_base_hidden_size} is set; then {@code widthMult} m = n_embd / mup_base_hidden_size and
 * {@code filterMult} mf = d_ff / mup_base_filter_size (d_ff = 4·n_embd, the MLP's intermediate size;
 * the base filter size defaults to 4·mup_base_hidden_size, so mf = m). Without μP both are 1 and
 * every rule below is the identity, so the model is unchanged to the bit.
 *
 * <p>The rules, which the layers apply where they create weights ({@link ModelBuilder#hidden}):
 * <ul>
 * <li><b>Hidden (matrix-like) weights</b>, whose fan-in grows with the width (attention q, k, v, o;
 *     MLP c_fc and c_proj, GLU's and macaron's too; the MoE router and experts): init variance
 *     ∝ 1/fan_in anchored at the base width, so a weight whose standard-parametrisation std is a
 *     constant (GPT-Neo's N(0, 0.02) c_fc and c_proj, init_style nanogpt's matrices) gets std/√m
 *     (c_proj: /√mf, its fan-in is d_ff), and one already drawn with std ∝ fan_in^-½ (GPT-Neo's
 *     q, k, v, o; MoE's; everything under scale_by_in) keeps it. Adam's learning rate lr / m
 *     (c_proj: lr / mf).
 * <li><b>Vector-like parameters</b> (wte, wpe, axial tables, memory key/values, biases, norm gains,
 *     and the untied output layer of no_weight_tie, which μP reads out like the tied wte):
 *     unchanged init, learning rate lr.
 * <li><b>Output logits</b> multiplied by output_logits_alpha / m (applied to the final norm's output,
 *     before the output matrix, as microsoft/mup's MuReadout does, so an untied output bias is not
 *     scaled); <b>the embedding output</b> by embeddings_scale. Both apply without μP too (m = 1).
 * <li><b>Attention scores</b>: GPT-Neo folds 1/√d_head into q's init; under scale_qk_dot_by_d the
 *     scores are instead scaled by attention_logits_alpha/d_head at run time and q is initialised
 *     like k ({@link #foldsScoreScale}, {@link #queryScale}).
 * </ul>
 * Weight decay is untouched (GPT-Neo's rule, {@link Gpt#skipsWeightDecay}).
 */
public final class Mup {
  /** Which width a hidden weight's fan-in is: n_embd's (width_mult) or the MLP's d_ff (filter_mult). */
  public enum FanIn { WIDTH, FILTER }

  private final boolean on;
  private final double widthMult;
  private final double filterMult;
  private final double embeddingsScale;
  private final double outputLogitsAlpha;
  private final boolean scaleQkDotByD;
  private final double attentionLogitsAlpha;

  private Mup(GptConfig cfg) {
    this.on = cfg.mup();
    this.widthMult = (double) cfg.nEmbd() / cfg.mupBaseHiddenSize();
    this.filterMult = on ? 4.0 * cfg.nEmbd() / cfg.mupBaseFilterSize() : 1.0;
    this.embeddingsScale = cfg.embeddingsScale();
    this.outputLogitsAlpha = cfg.outputLogitsAlpha();
    this.scaleQkDotByD = cfg.scaleQkDotByD();
    this.attentionLogitsAlpha = cfg.attentionLogitsAlpha();
  }

  /** The rules of {@code cfg}. */
  public static Mup of(GptConfig cfg) {
    return new Mup(cfg);
  }

  /** Whether μP is on (mup_base_hidden_size is set). */
  public boolean on() {
    return on;
  }

  /** m = n_embd / mup_base_hidden_size (1 without μP). */
  public double widthMult() {
    return widthMult;
  }

  /** mf = 4·n_embd / mup_base_filter_size (1 without μP). */
  public double filterMult() {
    return filterMult;
  }

  private double mult(FanIn fanIn) {
    return fanIn == FanIn.WIDTH ? widthMult : filterMult;
  }

  /**
   * A hidden weight's init std: {@code spStd} (its standard-parametrisation std) over √mult when
   * {@code constantStd} (that std does not already fall with the fan-in) and μP is on, else spStd.
   */
  public double initStd(double spStd, FanIn fanIn, boolean constantStd) {
    return on && constantStd ? spStd / Math.sqrt(mult(fanIn)) : spStd;
  }

  /** A hidden weight's learning-rate multiplier: 1/mult under μP, else 1. Vector-like parameters take 1. */
  public double lrMultiplier(FanIn fanIn) {
    return on ? 1.0 / mult(fanIn) : 1.0;
  }

  /** The embedding output's multiplier: embeddings_scale. */
  public double embeddingsScale() {
    return embeddingsScale;
  }

  /** The logits' multiplier: output_logits_alpha / width_mult. */
  public double logitsScale() {
    return outputLogitsAlpha / widthMult;
  }

  /**
   * Whether the scores' 1/√d_head is folded into q's init (GPT-Neo's way: q std n_embd^-½·d_head^-½
   * and no scaling at run time): when neither scale_qk_dot_by_d nor init_style nanogpt asks for a
   * fixed scale at run time.
   */
  public boolean foldsScoreScale(boolean nanoGptInit) {
    return !nanoGptInit && !scaleQkDotByD;
  }

  /**
   * The factor q is multiplied by after its projection (and rotary), which every attention form
   * (global, banded and blocked local, the decoding cache, linear, memory key/values) then sees:
   * attention_logits_alpha times 1/d_head under scale_qk_dot_by_d, else times 1/√d_head under
   * init_style nanogpt, else times 1 (the scale is in q's init). 1 means no op.
   */
  public double queryScale(boolean nanoGptInit, int dHead) {
    if (scaleQkDotByD) {
      return attentionLogitsAlpha / dHead;
    }
    return nanoGptInit ? attentionLogitsAlpha * Math.pow(dHead, -0.5) : attentionLogitsAlpha;
  }
}
