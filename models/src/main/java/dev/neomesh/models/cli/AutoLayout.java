package dev.neomesh.models.cli;

import dev.neomesh.layout.PlanReport;
import dev.neomesh.layout.Planner;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.ir.MeshGraph;

/** {@code --auto_layout} and {@code --auto_layout_and_mesh_shape}: the layout module's planner on the training graph. */
final class AutoLayout {
  private AutoLayout() {}

  /** GPT-Neo's selection text ("Auto-selected layout: ..."), and the chosen layout and mesh shape. */
  record Selection(String text, String layout, String meshShape) {}

  static Selection plan(MeshGraph graph, MeshShape mesh, boolean searchMesh, long budgetBytes) {
    Planner.Plan plan = searchMesh
        ? Planner.autoLayoutAndMeshShape(graph, mesh.size(), budgetBytes)
        : Planner.autoLayout(graph, mesh, budgetBytes);
    return new Selection(PlanReport.selection(plan), plan.layout().toString(), plan.meshShape().toString());
  }
}
