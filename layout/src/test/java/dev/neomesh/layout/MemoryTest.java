package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.neomesh.layout.bench.SmallTransformer;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.Lowering;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.proto.AllocatorMemoryUsed;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.NodeOutput;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;

class MemoryTest {
  @Test
  void explore() {
    SmallTransformer.Program p = SmallTransformer.transformer(new SmallTransformer.Sizes(16, 32, 64, 4, 16, 256, 256, 1),
        DType.FLOAT32, true);
    MeshShape mesh = MeshShape.parse("x:2");
    LayoutRules rules = LayoutRules.parse("batch:x");
    CostModel model = new CostModel(p.graph(), CostModel.Options.adam().withOptimizerSlots(0)
        .withFetches(List.of(p.loss())));
    Cost c = model.estimate(mesh, rules);
    System.out.println("predicted " + c.memory());
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(p.graph(), mesh, rules);
         Tensor t = HostTensors.of(p.inputs().get(0).shape(), DType.INT32, new double[16 * 32]);
         Tensor l = HostTensors.of(p.inputs().get(1).shape(), DType.INT32, new double[16 * 32])) {
      rt.initialize();
      Lowering lw = rt.lowering();
      Session.Runner r = rt.session().runner().feed(lw.placeholder(p.inputs().get(0)), t)
          .feed(lw.placeholder(p.inputs().get(1)), l).fetch(rt.exported(p.loss()));
      lw.updates().forEach(r::addTarget);
      r.setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build());
      try (Result res = r.runAndFetchMetadata()) {
        RunMetadata md = res.getMetadata().orElseThrow();
        for (DeviceStepStats d : md.getStepStats().getDevStatsList()) {
          long outBytes = 0;
          long peak = 0;
          int records = 0;
          String alloc = "";
          for (NodeExecStats n : d.getNodeStatsList()) {
            for (NodeOutput o : n.getOutputList()) {
              outBytes += o.getTensorDescription().getAllocationDescription().getRequestedBytes();
            }
            for (AllocatorMemoryUsed m : n.getMemoryList()) {
              peak = Math.max(peak, m.getPeakBytes());
              records += m.getAllocationRecordsCount();
              alloc = m.getAllocatorName();
            }
          }
          System.out.printf("%s nodes %d outputs %d B, peak %d, records %d, allocator %s%n", d.getDevice(),
              d.getNodeStatsCount(), outBytes, peak, records, alloc);
        }
        NodeExecStats any = md.getStepStats().getDevStats(0).getNodeStats(5);
        System.out.println(any);
      }
    }
  }
}
