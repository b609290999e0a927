package dev.neomesh.models.gpt;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.models.config.MoeParams;
import java.util.List;

/**
 * A mixture-of-experts MLP (Mesh-TensorFlow's {@code transformer_moe_layer_v1} with top-2 gating),
 * replacing the MLP in {@code moe_layers}. Each sequence is one group (the group dim is {@code batch},
 * so it is split like the batch): a router {@code [embd, expert_unsplit]} picks each token's best two
 * experts; the second is kept by the second-expert policy (random: with probability gate2/threshold);
 * each expert takes at most {@code C = max(min(S, floor(S*cf/E)), min_capacity)} tokens per group in
 * arrival order, the rest are dropped. The auxiliary load-balancing loss is
 * {@code mean_{group,expert}(mean_S(gates) * mean_S(top1)) * E^2 * loss_coef}.
 *
 * <p>Layout: the dispatch einsum makes {@code [expert_unsplit, batch, capacity, embd]}; renaming it to
 * {@code [experts, batch_unsplit, capacity, embd]} moves the split from the batch to the experts, which is
 * one alltoall when {@code batch} and {@code experts} share a mesh axis (rules {@code batch:x,experts:x}).
 * The experts then run locally on {@code wi [experts, embd, expert_hidden]} and {@code wo [experts,
 * expert_hidden, embd]}, and the reverse rename brings their outputs home.
 */
final class Moe {
  private Moe() {}

  record Out(MeshTensor y, MeshTensor auxLoss) {}

  static Out forward(ModelBuilder b, MeshTensor x, String scope) {
    MeshOps m = b.m;
    MoeParams hp = b.cfg.moe();
    Dim experts = new Dim("experts", hp.numExperts());
    Dim expertUnsplit = new Dim("expert_unsplit", experts.size());
    Dim batchUnsplit = new Dim("batch_unsplit", b.batch.size());
    int s = b.sequence.size();
    double cf = b.train ? hp.capacityFactorTrain() : hp.capacityFactorEval();
    Dim capacity = new Dim("expert_capacity",
        Math.max(Math.min(s, (int) Math.floor(s * cf / hp.numExperts())), hp.minExpertCapacity()));
    Shape tokensByExpert = Shape.of(b.batch, b.sequence, expertUnsplit);

    // top-2 gating, in float32, over expert_unsplit (the group dim is batch, which may share experts' axis)
    MeshTensor router = b.hidden(scope + "/top_2_gating/kernel", Shape.of(b.embd, expertUnsplit), Mup.FanIn.WIDTH,
        fanIn(b.embd.size()), false);
    MeshTensor gates = m.softmax(m.cast(m.einsum(List.of(x, router), tokensByExpert), DType.FLOAT32),
        expertUnsplit.name());
    MeshTensor mask1 = argmaxMask(m, gates, expertUnsplit);
    MeshTensor gate1 = m.reduceSum(m.mul(gates, mask1), expertUnsplit.name());
    MeshTensor gatesWithout1 = m.mul(gates, m.sub(1.0, mask1));
    MeshTensor mask2 = argmaxMask(m, gatesWithout1, expertUnsplit);
    MeshTensor gate2 = m.reduceSum(m.mul(gatesWithout1, mask2), expertUnsplit.name());
    MeshTensor denom = m.add(m.add(gate1, gate2), 1e-9);
    gate1 = m.div(gate1, denom);
    gate2 = m.div(gate2, denom);

    MeshTensor density1 = m.reduceMean(mask1, b.sequence.name());
    MeshTensor densityProxy = m.reduceMean(gates, b.sequence.name());
    double scale = hp.numExperts() * hp.numExperts() * hp.lossCoef() / (b.batch.size() * hp.numExperts());
    MeshTensor aux = m.reduceSum(m.mul(m.mul(densityProxy, density1), scale), Shape.SCALAR);

    String policy = b.train ? hp.secondPolicyTrain() : hp.secondPolicyEval();
    double threshold = b.train ? hp.secondThresholdTrain() : hp.secondThresholdEval();
    MeshTensor keep2 = switch (policy) {
      case "all" -> null;
      case "none" -> m.zeros(gate2.shape(), DType.FLOAT32);
      case "threshold" -> m.cast(m.greater(gate2, threshold), DType.FLOAT32);
      default -> m.cast(m.less(b.stepUniform(gate2.shape(), scope + "/second_expert"), m.div(gate2, threshold)),
          DType.FLOAT32);
    };
    if (keep2 != null) {
      mask2 = m.mul(mask2, keep2);
    }

    // positions in each expert's buffer; tokens past the capacity are dropped
    MeshTensor cap = m.scalar(capacity.size(), DType.FLOAT32);
    MeshTensor pos1 = m.mul(m.cumsum(mask1, b.sequence.name(), true), mask1);
    mask1 = m.mul(mask1, m.cast(m.less(pos1, cap), DType.FLOAT32));
    MeshTensor count1 = m.reduceSum(mask1, b.sequence.name());
    MeshTensor pos2 = m.mul(m.add(m.cumsum(mask2, b.sequence.name(), true), count1), mask2);
    mask2 = m.mul(mask2, m.cast(m.less(pos2, cap), DType.FLOAT32));
    MeshTensor slot1 = m.oneHot(m.cast(m.reduceSum(m.mul(pos1, mask1), expertUnsplit.name()), DType.INT32), capacity,
        DType.FLOAT32);
    MeshTensor slot2 = m.oneHot(m.cast(m.reduceSum(m.mul(pos2, mask2), expertUnsplit.name()), DType.INT32), capacity,
        DType.FLOAT32);
    MeshTensor combine = m.add(m.mul(m.mul(gate1, mask1), slot1), m.mul(m.mul(gate2, mask2), slot2));
    MeshTensor dispatch = m.cast(m.notEqual(combine, m.scalar(0, DType.FLOAT32)), b.act);

    // dispatch: [expert_unsplit, batch, ...] -> alltoall -> [experts, batch_unsplit, ...]
    MeshTensor in = m.einsum(List.of(dispatch, x),
        Shape.of(expertUnsplit, b.batch, capacity, b.embd));
    in = m.reshape(in, Shape.of(experts, batchUnsplit, capacity, b.embd));
    Dim hidden = new Dim("expert_hidden", hp.hiddenSize());
    // hidden weights (Mup) whose std already falls with the fan-in; wo's fan-in is expert_hidden, a moe_params size
    // that μP takes to grow with n_embd (width_mult, not the dense MLP's filter_mult)
    MeshTensor wi = b.hidden(scope + "/wi/kernel", Shape.of(experts, b.embd, hidden), Mup.FanIn.WIDTH,
        fanIn(b.embd.size()), false);
    MeshTensor wo = b.hidden(scope + "/wo/kernel", Shape.of(experts, hidden, b.embd), Mup.FanIn.WIDTH,
        fanIn(hidden.size()), false);
    MeshTensor h = b.activation(b.cfg.moeActivation(),
        m.einsum(List.of(in, wi), Shape.of(experts, batchUnsplit, capacity, hidden)));
    h = b.dropout(h, hp.dropoutRate(), scope + "/moe_dropout");
    MeshTensor out = m.einsum(List.of(h, wo), Shape.of(experts, batchUnsplit, capacity, b.embd));
    out = m.reshape(out, Shape.of(expertUnsplit, b.batch, capacity, b.embd));
    MeshTensor y = m.einsum(List.of(out, m.cast(combine, b.act)),
        b.stream());
    return new Out(b.dropout(y, b.cfg.resDropout(), scope + "/res_dropout"), aux);
  }

  /** 1 at the largest value along {@code experts} (ties are broken toward the lowest index). */
  private static MeshTensor argmaxMask(MeshOps m, MeshTensor g, Dim experts) {
    MeshTensor isMax = m.cast(m.greaterEqual(g, m.reduceMax(g, experts.name())), DType.FLOAT32);
    MeshTensor earlier = m.cumsum(isMax, experts.name(), true);
    return m.mul(isMax, m.cast(m.equal(earlier, 0.0), DType.FLOAT32));
  }

  /** The standard deviation of the experts' and router's N(0, 1/fan_in) init (Mesh-TensorFlow's dense default scale). */
  private static double fanIn(int fanIn) {
    return Math.pow(fanIn, -0.5);
  }
}
