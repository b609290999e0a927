package dev.neomesh.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.layout.bench.SmallTransformer;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A mesh spread over the tasks of a cluster: collectives whose groups hold devices of two tasks
 * are priced at the cross-task rates, those within one task (and every collective of one process)
 * at the in-process ones.
 */
class CrossTaskCostTest {
  static final SmallTransformer.Program MLP = SmallTransformer.mlp(8, 4, 16, 8, DType.FLOAT32, true);
  /** The defaults with a much slower link between tasks (1e8 B/s, 1 ms a transfer). */
  static final MachineConstants SLOW_LINK = MachineConstants.DEFAULTS.withCrossTask(1e8, 1e-3, "slow link");

  static Cost cost(String mesh, String rules, int devicesPerTask) {
    CostModel model = new CostModel(MLP.graph(), CostModel.Options.adam(SLOW_LINK).withFetches(List.of(MLP.loss()))
        .withDevicesPerTask(devicesPerTask));
    return model.estimate(MeshShape.parse(mesh), LayoutRules.parse(rules));
  }

  @Test
  void allreduceAcrossTasksCostsTheCrossTaskRates() {
    Cost oneProcess = cost("x:4", "batch:x", 0);
    Cost twoTasks = cost("x:4", "batch:x", 2);
    Cost.Work one = oneProcess.work();
    Cost.Work two = twoTasks.work();
    assertTrue(one.transfers() > 0 && one.bytes() > 0, "data parallelism allreduces: " + one);
    assertEquals(0, one.crossTaskTransfers());
    assertEquals(0, one.crossTaskBytes());
    // every group over x holds all four devices, so all of them span the two tasks
    assertEquals(0, two.transfers());
    assertEquals(0, two.bytes());
    assertEquals(one.transfers(), two.crossTaskTransfers());
    assertEquals(one.bytes(), two.crossTaskBytes());
    assertEquals(one.ops(), two.ops());
    double extra = one.transfers() * (1e-3 - SLOW_LINK.transferSeconds())
        + one.bytes() * (1 / 1e8 - 1 / SLOW_LINK.bytesPerSecond());
    assertEquals(oneProcess.seconds() + extra, twoTasks.seconds(), 1e-9 * twoTasks.seconds());
    assertTrue(twoTasks.seconds() > oneProcess.seconds());
    // the communication counted is the same: only its price changes
    assertEquals(oneProcess.communication(), twoTasks.communication());
    assertEquals(oneProcess.time().compute(), twoTasks.time().compute());
  }

  @Test
  void tasksCoveringTheMeshAreOneProcess() {
    Cost oneProcess = cost("x:4", "batch:x", 0);
    for (int k : new int[] {4, 8}) {
      Cost covered = cost("x:4", "batch:x", k);
      assertEquals(oneProcess.seconds(), covered.seconds(), "devicesPerTask " + k);
      assertEquals(oneProcess.work(), covered.work(), "devicesPerTask " + k);
    }
  }

  @Test
  void onlyGroupsThatSpanTasksPayTheCrossTaskRates() {
    // x:2,y:2 on two tasks of two: task t holds pnums 2t, 2t+1, i.e. x = t; groups over y stay in a task
    assertEquals(cost("x:2,y:2", "batch:y", 0).seconds(), cost("x:2,y:2", "batch:y", 2).seconds());
    assertEquals(0, cost("x:2,y:2", "batch:y", 2).work().crossTaskTransfers());
    Cost acrossX = cost("x:2,y:2", "batch:x", 2);
    assertTrue(acrossX.work().crossTaskTransfers() > 0);
    assertEquals(0, acrossX.work().transfers());
    assertTrue(acrossX.seconds() > cost("x:2,y:2", "batch:x", 0).seconds());
  }

  @Test
  void plannerKeepsCollectivesWithinATask() {
    SmallTransformer.Program p = SmallTransformer.mlp(512, 64, 256, 64, DType.FLOAT32, true);
    CostModel.Options o = CostModel.Options.adam(SLOW_LINK).withFetches(List.of(p.loss()));
    MeshShape mesh = MeshShape.parse("x:2,y:2");
    CostModel twoTasks = new CostModel(p.graph(), o.withDevicesPerTask(2));
    Planner.Plan two = Planner.autoLayout(twoTasks, mesh, Long.MAX_VALUE);
    Planner.Plan one = Planner.autoLayout(new CostModel(p.graph(), o), mesh, Long.MAX_VALUE);
    // in one process the winner communicates over x (hidden:x,batch:y); on two tasks of two (task = x) that
    // crosses the slow link, so the planner keeps every collective within a task instead
    Cost oneOnTwoTasks = twoTasks.estimate(mesh, one.layout());
    assertTrue(oneOnTwoTasks.work().crossTaskTransfers() > 0, one.layout() + " communicates over x");
    assertEquals(0, two.best().work().crossTaskTransfers(), two.layout().toString());
    assertTrue(two.best().seconds() < oneOnTwoTasks.seconds());
    assertNotEquals(one.layout(), two.layout());
  }

  @Test
  void groupsSpanTasksByTaskMajorPnums() {
    MeshShape xy = MeshShape.parse("x:2,y:2");
    assertFalse(CostModel.spansTasks(xy, new int[] {1}, 2));
    assertTrue(CostModel.spansTasks(xy, new int[] {0}, 2));
    assertTrue(CostModel.spansTasks(xy, new int[] {0, 1}, 2));
    assertTrue(CostModel.spansTasks(xy, new int[] {1}, 1));
    assertFalse(CostModel.spansTasks(xy, new int[] {0}, 0));
    assertFalse(CostModel.spansTasks(xy, new int[] {0, 1}, 4));
    MeshShape x2y4 = MeshShape.parse("x:2,y:4");
    assertTrue(CostModel.spansTasks(x2y4, new int[] {1}, 2), "a group of 4 over y spans tasks of 2");
    assertFalse(CostModel.spansTasks(x2y4, new int[] {1}, 4));
  }
}
