package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.Activation;
import dev.neomesh.models.config.GptConfig;
import dev.neomesh.models.config.InitStyle;
import dev.neomesh.models.train.ZeroSharding;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds one GPT's variables and holds what every layer shares while it is built: the ops, the
 * config, the named dims, the activation dtype and the step-varying dropout. Each trainable variable
 * is made once per GPT-Neo name ({@link #normal}, {@link #filled}), so {@code share_parameters}
 * reuses it, and read cast to the activation dtype. Weights start from layout-invariant random ops
 * keyed by the variable's name, so every mesh and layout starts from the same model.
 */
final class ModelBuilder {
  final MeshOps m;
  final GptConfig cfg;
  final boolean train;
  /** float32, or bfloat16 under {@code precision: bfloat16} (variables stay float32). */
  final DType act;
  /** The trainable variables' dtype: float32, or bfloat16 under {@code parameter_precision: bfloat16}. */
  private final DType param;
  final Dim batch;
  final Dim sequence;
  final Dim memory;
  final Dim embd;
  final Dim heads;
  /** The heads of keys and values: {@code heads}, or {@code kv_heads} [n_kv_head] under grouped-query attention. */
  final Dim kvHeads;
  /**
   * The query heads as attention reads them: {@code [heads]}, or under grouped-query attention
   * {@code [kv_heads, heads_per_kv]}, so each query head meets its group's key and value head in
   * the einsums without copying the keys and values per query head.
   */
  final List<Dim> queryHeads;
  final Dim kv;
  final Dim vocab;
  /** Whether the variables are stored as ZeRO stage 3's sharded views (training under zero_stage 3 only). */
  private final boolean shardedParameters;
  /** Incremental decoding: where the run's tokens stand and the caches (null for a whole-sequence pass). */
  final Decoding decoding;
  /**
   * Under {@code residual_attn}: the pre-softmax, unmasked scores of the last attention layer built
   * so far, which the next one adds to its own (RealFormer); null before the first layer.
   */
  MeshTensor residualScores;
  /** When decoding: the global cache slots this program reads (its tokens all stand below it). */
  final int span;
  /** μP's widths and rules (identities without μP). */
  final Mup mup;
  private final Map<String, MeshTensor> variables;
  /** The learning-rate multiplier of each hidden weight by name (vector-like parameters are absent: 1). */
  private final Map<String, Double> lrMultipliers = new LinkedHashMap<>();

  ModelBuilder(MeshOps m, GptConfig cfg, Dim batch, Dim sequence, boolean train) {
    this(m, cfg, batch, sequence, train, null, sequence.size());
  }

  /**
   * A builder of one decoding program (a prefill or a step) over {@code sequence} tokens per row,
   * reading {@code span} global cache slots; the programs of one {@code decoding} share its weights.
   */
  ModelBuilder(MeshOps m, GptConfig cfg, Dim batch, Dim sequence, Decoding decoding, int span) {
    this(m, cfg, batch, sequence, false, decoding, span);
  }

  private ModelBuilder(MeshOps m, GptConfig cfg, Dim batch, Dim sequence, boolean train, Decoding decoding,
      int span) {
    this.m = m;
    this.cfg = cfg;
    this.train = train;
    this.shardedParameters = train && ZeroSharding.stores(cfg.zeroStage());
    this.act = cfg.bfloat16() ? DType.BFLOAT16 : DType.FLOAT32;
    this.param = cfg.bfloat16Parameters() ? DType.BFLOAT16 : DType.FLOAT32;
    this.batch = batch;
    this.sequence = sequence;
    this.decoding = decoding;
    this.span = span;
    this.mup = Mup.of(cfg);
    this.variables = decoding == null ? new LinkedHashMap<>() : decoding.weights;
    this.memory = decoding == null ? new Dim("memory_length", sequence.size()) : decoding.memory;
    this.embd = new Dim("embd", cfg.nEmbd());
    this.heads = new Dim("heads", cfg.nHead());
    if (cfg.nKvHead() == cfg.nHead()) {
      this.kvHeads = heads;
      this.queryHeads = List.of(heads);
    } else {
      this.kvHeads = new Dim("kv_heads", cfg.nKvHead());
      Dim perKv = new Dim("heads_per_kv", cfg.nHead() / cfg.nKvHead());
      this.queryHeads = List.of(kvHeads, perKv);
      // a layout written for heads splits the key/value heads when its axis divides them, else the groups
      m.graph().followLayout(kvHeads, heads.name());
      m.graph().followLayout(perKv, heads.name());
    }
    this.kv = new Dim("kv", cfg.headSize());
    this.vocab = new Dim("vocab", cfg.nVocab());
  }

  /**
   * A shape of dims and lists of dims in order, for shapes with a head group inside:
   * {@code shape(batch, queryHeads, sequence, memory)}.
   */
  static Shape shape(Object... parts) {
    List<Dim> dims = new ArrayList<>();
    for (Object p : parts) {
      if (p instanceof Dim d) {
        dims.add(d);
      } else {
        for (Object d : (List<?>) p) {
          dims.add((Dim) d);
        }
      }
    }
    return new Shape(dims);
  }

  /** Whether keys and values have fewer heads than queries (grouped-query or multi-query attention). */
  boolean groupedQueries() {
    return kvHeads != heads;
  }

  /** {@code [batch, sequence, embd]}: the residual stream. */
  Shape stream() {
    return Shape.of(batch, sequence, embd);
  }

  /**
   * True under {@code init_style: nanogpt} (a neomesh key): every weight matrix and embedding
   * N(0, 0.02), the two residual projections (attention o, MLP c_proj) N(0, 0.02/sqrt(2 n_layer)),
   * and attention scores scaled by 1/sqrt(d_head) in the forward pass. GPT-Neo instead draws
   * q, k, v, o with std n_embd^-1/2 (q also times d_head^-1/2, its only score scaling) and wpe with
   * 0.01; with Adam the fixed forward scale trains better on small models (docs/MODEL.md).
   */
  boolean nanoGptInit() {
    return cfg.initStyle() == InitStyle.NANOGPT;
  }

  /** nanoGPT's std of a projection into the residual stream. */
  double nanoGptResidualStd() {
    return 0.02 / Math.sqrt(2.0 * cfg.nLayer());
  }

  /** A trainable float32 variable initialised N(0, stddev), cast to the activation dtype; made once per name. */
  MeshTensor normal(String name, Shape shape, double stddev) {
    return use(variables.computeIfAbsent(name,
        n -> parameter(n, m.randomNormal(shape, DType.FLOAT32, n, 0.0, stddev))), shape);
  }

  /**
   * A hidden (matrix-like) weight, whose fan-in grows with the width ({@code fanIn}: n_embd's or the
   * MLP's d_ff): N(0, std) with μP's init rule applied to its standard-parametrisation std
   * {@code spStd} ({@code constantStd}: that std is a constant, not already ∝ fan_in^-½;
   * {@link Mup#initStd}), trained at μP's learning rate ({@link Mup#lrMultiplier}). Without μP the
   * same as {@link #normal}. Every other parameter is vector-like: unchanged init, learning rate lr.
   */
  MeshTensor hidden(String name, Shape shape, Mup.FanIn fanIn, double spStd, boolean constantStd) {
    lrMultipliers.putIfAbsent(name, mup.lrMultiplier(fanIn));
    return normal(name, shape, mup.initStd(spStd, fanIn, constantStd));
  }

  /** The learning-rate multiplier of parameter {@code name}: μP's for a hidden weight, else 1. */
  double lrMultiplier(String name) {
    return lrMultipliers.getOrDefault(name, 1.0);
  }

  /**
   * A trainable float32 variable whose every element starts at {@code value} (biases at 0, norm gains
   * at 1), cast to the activation dtype; made once per name.
   */
  MeshTensor filled(String name, Shape shape, double value) {
    return use(variables.computeIfAbsent(name, n -> parameter(n, m.constant(value, shape, DType.FLOAT32))), shape);
  }

  /**
   * The trainable variable {@code name} starting at the float32 {@code init}: float32, or bfloat16 under
   * {@code parameter_precision: bfloat16}, checkpointed as float32 either way (the trainer's float32
   * master writes that tensor; {@link dev.neomesh.models.train.TrainProgram}).
   */
  private MeshTensor parameter(String name, MeshTensor init) {
    return m.variable(name, m.cast(stored(init), param), true, name, DType.FLOAT32);
  }

  /** A variable's initial value as stored: under ZeRO stage 3 in training, its sharded view. */
  private MeshTensor stored(MeshTensor init) {
    return shardedParameters ? ZeroSharding.shard(m, init) : init;
  }

  /**
   * A read of {@code variable} as {@code shape}: gathered here, for this use, under ZeRO stage 3, and cast
   * to the activation dtype. A bfloat16 parameter's gradient is float32 and stays a pending sum through
   * the cast ({@link MeshOps#castWithGradient}), so it is allreduced (or reduce-scattered) in float32
   * whatever the activation dtype.
   */
  private MeshTensor use(MeshTensor variable, Shape shape) {
    MeshTensor read = shardedParameters ? ZeroSharding.gather(m, variable, shape) : variable;
    return param == DType.FLOAT32 ? m.cast(read, act) : m.castWithGradient(read, act, DType.FLOAT32);
  }

  /** The trainable variables in creation order. */
  List<MeshTensor> variables() {
    return new ArrayList<>(variables.values());
  }

  /**
   * Inverted dropout, in training only. {@link MeshOps#dropout} draws a layout-invariant mask
   * keyed by {@code key} and the run's random step (which the trainer feeds), so it changes every
   * step and a resumed run draws the masks an uninterrupted one would have.
   */
  MeshTensor dropout(MeshTensor x, double rate, String key) {
    return train ? m.dropout(x, rate, key) : x;
  }

  /** A uniform in [0,1) of {@code shape} that changes every training step (fixed in evaluation). */
  MeshTensor stepUniform(Shape shape, String key) {
    return train ? m.randomUniformPerStep(shape, DType.FLOAT32, key, 0, 1)
        : m.randomUniform(shape, DType.FLOAT32, key, 0, 1);
  }

  /** {@code x} through the activation {@code a} (GPT-Neo's {@code activation_fn} choices). */
  MeshTensor activation(Activation a, MeshTensor x) {
    return switch (a) {
      case GELU -> m.gelu(x);
      case RELU -> m.relu(x);
      case SIGMOID -> m.sigmoid(x);
      case TANH -> m.tanh(x);
      case SELU -> m.mul(elu(x, 1.6732632423543772), 1.0507009873554805);
      case ELU -> elu(x, 1.0);
      case ABS -> m.abs(x);
      case SIN -> m.sin(x);
      case COS -> m.cos(x);
      case SIGN -> m.sign(x);
      case SILU -> m.mul(x, m.sigmoid(x));
      case SOFTPLUS -> m.softplus(x);
      case SOFTSIGN -> m.div(x, m.add(m.abs(x), 1.0));
      case MISH -> m.mul(x, m.tanh(m.softplus(x)));
      case SQUARE -> m.square(x);
      case IDENTITY -> x;
      case LRELU001 -> m.maximum(x, m.mul(x, 0.01));
      case LRELU01 -> m.maximum(x, m.mul(x, 0.1));
      case LRELU020 -> m.maximum(x, m.mul(x, 0.2));
    };
  }

  private MeshTensor elu(MeshTensor x, double alpha) {
    MeshTensor neg = m.mul(m.sub(m.exp(m.minimum(x, 0.0)), 1.0), alpha);
    return m.where(m.greater(x, 0.0), x, neg);
  }
}
