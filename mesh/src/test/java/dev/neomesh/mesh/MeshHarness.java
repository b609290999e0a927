package dev.neomesh.mesh;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * Runs one small mesh program on a mesh and layout and returns its output, a scalar probe loss and
 * the loss's gradients with respect to the inputs: what the layout-equivalence tests compare.
 */
final class MeshHarness {
  private MeshHarness() {}

  /** Output values, loss, and one gradient per input. */
  record Run(double[] output, double loss, List<double[]> grads) {}

  static final List<String> MESHES = List.of("x:1", "x:4", "x:2,y:2", "x:2,y:4");

  /**
   * Builds inputs (variables of the given shapes with layout-invariant normal values), applies
   * {@code body}, and differentiates {@code sum(out * probe)} for a random probe.
   */
  static Run run(List<Shape> inputShapes, DType dtype, BiFunction<MeshOps, List<MeshTensor>, MeshTensor> body,
                 String mesh, String layout) {
    MeshGraph g = new MeshGraph(7);
    MeshOps m = new MeshOps(g);
    List<MeshTensor> xs = new ArrayList<>();
    for (int i = 0; i < inputShapes.size(); i++) {
      xs.add(m.variable("in" + i, m.randomNormal(inputShapes.get(i), dtype, "in" + i, 0.0, 1.0)));
    }
    MeshTensor out = body.apply(m, xs);
    MeshTensor loss = null;
    List<MeshTensor> grads = List.of();
    if (out.dtype().isFloating()) {
      MeshTensor probe = m.randomNormal(out.shape(), out.dtype(), "probe", 0.0, 1.0);
      loss = m.reduceSum(m.mul(out, probe), Shape.SCALAR);
      grads = Gradients.of(loss, xs);
    }
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      MeshRuntime.Step step = rt.step().fetch(out);
      if (loss != null) {
        step.fetch(loss);
        grads.forEach(step::fetch);
      }
      List<double[]> r = step.run();
      return new Run(r.get(0), loss == null ? 0 : r.get(1)[0], r.subList(Math.min(2, r.size()), r.size()));
    }
  }

  /** Every layout of the given dim names over the axes of {@code mesh}, valid or not (at most one dim per axis). */
  static List<String> layouts(List<String> dims, MeshShape mesh) {
    List<String> out = new ArrayList<>();
    enumerate(dims, 0, mesh, new String[dims.size()], out);
    return out;
  }

  private static void enumerate(List<String> dims, int i, MeshShape mesh, String[] chosen, List<String> out) {
    if (i == dims.size()) {
      List<String> rules = new ArrayList<>();
      for (int k = 0; k < chosen.length; k++) {
        if (chosen[k] != null) {
          rules.add(dims.get(k) + ":" + chosen[k]);
        }
      }
      out.add(String.join(",", rules));
      return;
    }
    chosen[i] = null;
    enumerate(dims, i + 1, mesh, chosen, out);
    for (Dim axis : mesh.axes()) {
      boolean used = false;
      for (int k = 0; k < i; k++) {
        used |= axis.name().equals(chosen[k]);
      }
      if (!used) {
        chosen[i] = axis.name();
        enumerate(dims, i + 1, mesh, chosen, out);
      }
    }
    chosen[i] = null;
  }
}
