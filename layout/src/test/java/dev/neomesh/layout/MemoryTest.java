package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.layout.bench.SmallTransformer;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.MeshRuntime;
import dev.neomesh.mesh.lower.StepMemory;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.proto.RunOptions;

/**
 * Memory against TensorFlow's own records: one training step run with FULL_TRACE, replayed per
 * device by {@link StepMemory}: the peak of the live allocations during the step, and what is still
 * allocated at its end (the new values the step assigned to the variables).
 */
class MemoryTest {
  static List<StepMemory.Device> measure(SmallTransformer.Program p, MeshShape mesh, LayoutRules rules) {
    int n = p.inputs().get(0).shape().dims().stream().mapToInt(d -> d.size()).reduce(1, (a, b) -> a * b);
    try (MeshRuntime rt = MeshRuntime.create(p.graph(), mesh, rules, StepMemory.oneOpAtATime(mesh.size()));
         Tensor t = HostTensors.of(p.inputs().get(0).shape(), DType.INT32, new double[n]);
         Tensor l = HostTensors.of(p.inputs().get(1).shape(), DType.INT32, new double[n])) {
      rt.initialize();
      Lowering lw = rt.lowering();
      Session.Runner r = rt.session().runner().feed(lw.placeholder(p.inputs().get(0)), t)
          .feed(lw.placeholder(p.inputs().get(1)), l).fetch(rt.exported(p.loss()));
      lw.updates().forEach(r::addTarget);
      r.setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build());
      try (Result res = r.runAndFetchMetadata()) {
        return StepMemory.of(res.getMetadata().orElseThrow());
      }
    }
  }

  static void check(SmallTransformer.Program p, String meshText, String layout) {
    MeshShape mesh = MeshShape.parse(meshText);
    LayoutRules rules = LayoutRules.parse(layout);
    CostModel model = new CostModel(p.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0)
        .withFetches(List.of(p.loss())));
    Cost.Memory predicted = model.estimate(mesh, rules).memory();
    List<StepMemory.Device> measured = measure(p, mesh, rules);
    assertEquals(mesh.size(), measured.size(), measured.toString());
    for (StepMemory.Device m : measured) {
      System.out.printf("%s %s %s: predicted step peak %d, TensorFlow peak %d (%+.1f%%); parameters+optimizer %d,"
              + " live at the end %d%n", meshText, layout, m.device(), predicted.stepPeak(), m.peak(),
          100.0 * (predicted.stepPeak() - m.peak()) / m.peak(), predicted.parameters() + predicted.optimizer(),
          m.endLive());
      // each device within 30%: the device TensorFlow's one executor thread runs ahead holds the
      // gradient parts it sends until the others read them (StepMemory.median)
      assertTrue(Math.abs(predicted.stepPeak() - m.peak()) <= 0.3 * m.peak(), m + " vs predicted " + predicted);
      // what the step leaves allocated is the new value of every variable (parameters and slots), exactly,
      // plus on device 0 the fetched loss
      long fetched = m.device().endsWith(":CPU:0") ? p.loss().dtype().bytes() : 0;
      assertEquals(predicted.parameters() + predicted.optimizer() + fetched, m.endLive(), m.toString());
    }
    // the median within 25%: the model is low here because TensorFlow's executor runs ready ops in its
    // own order, not the program's, and at its peak (inside the backward of attention) still holds
    // tensors the creation-order schedule frees at the end of the forward (the logits, their shifted
    // copy, the label one-hot's product): -15 to -19% on this host, -21% on the CI machine
    long median = StepMemory.median(measured.stream().mapToLong(StepMemory.Device::peak).toArray());
    assertTrue(Math.abs(predicted.stepPeak() - median) <= 0.25 * median,
        meshText + " " + layout + ": median device peak " + median + " vs predicted " + predicted);
  }

  @Test
  void activationPeakNearTheRecordsAndStateExact() {
    SmallTransformer.Program p = SmallTransformer.transformer(new SmallTransformer.Sizes(16, 32, 64, 4, 16, 256, 256, 1),
        DType.FLOAT32, true);
    check(p, "x:2", "batch:x");
    check(p, "x:2,y:2", "batch:x,heads:y,intermediate_expanded:y,vocab:y");
    // with embd split the model was 23% high until it dropped the ops TensorFlow prunes (gradients
    // nothing reads, such as that of the tokens' one-hot): now -2 to -19%
    check(p, "x:4", "embd:x");
  }

  @Test
  void optimizerSlotsAddedByOptionsEqualTheSlotVariables() {
    SmallTransformer.Program withAdam = SmallTransformer.transformer(SmallTransformer.Sizes.TINY, DType.FLOAT32, true);
    SmallTransformer.Program bare = SmallTransformer.transformer(SmallTransformer.Sizes.TINY, DType.FLOAT32, false);
    MeshShape mesh = MeshShape.parse("x:2,y:2");
    LayoutRules rules = LayoutRules.parse("embd:x,heads:y");
    Cost.Memory inGraph = new CostModel(withAdam.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS).withOptimizerSlots(0))
        .estimate(mesh, rules).memory();
    Cost.Memory added = new CostModel(bare.graph(), CostModel.Options.adam(MachineConstants.DEFAULTS)).estimate(mesh, rules).memory();
    assertEquals(inGraph.parameters(), added.parameters());
    assertEquals(inGraph.optimizer(), added.optimizer());
    assertEquals(2 * inGraph.parameters(), inGraph.optimizer());
  }
}
