package dev.neomesh.mesh;

import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.Gradients;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.Counters;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;
import org.tensorflow.Tensor;

/**
 * Runs one small mesh program on a mesh and layout and returns its output, a scalar probe loss and
 * the loss's gradients with respect to the inputs: what the layout-equivalence tests compare.
 */
final class MeshHarness {
  private MeshHarness() {}

  /** Output values, loss, one gradient per input, and what the lowering communicated. */
  record Run(double[] output, double loss, List<double[]> grads, Counters counters) {}

  static final List<String> MESHES = List.of("x:1", "x:4", "x:2,y:2", "x:2,y:4");

  /** A case: input shapes (fed from the host) and the program applied to them. */
  record Case(String name, List<Shape> inputs, DType dtype, BiFunction<MeshOps, List<MeshTensor>, MeshTensor> body,
              boolean positiveInputs) {
    List<double[]> values(long seed) {
      Random r = new Random(seed);
      List<double[]> out = new ArrayList<>();
      for (Shape s : inputs) {
        double[] v = new double[(int) s.size()];
        for (int i = 0; i < v.length; i++) {
          v[i] = positiveInputs ? 0.5 + r.nextDouble() * 1.5 : r.nextGaussian();
        }
        out.add(v);
      }
      return out;
    }

    List<String> dimNames() {
      List<String> names = new ArrayList<>();
      MeshGraph g = new MeshGraph();
      MeshOps m = new MeshOps(g);
      List<MeshTensor> xs = new ArrayList<>();
      for (int i = 0; i < inputs.size(); i++) {
        xs.add(m.importTensor("in" + i, inputs.get(i), dtype));
      }
      body.apply(m, xs);
      g.ops().forEach(op -> op.outputs().forEach(t -> t.shape().names().forEach(n -> {
        if (!names.contains(n)) {
          names.add(n);
        }
      })));
      return names;
    }
  }

  static Run run(Case c, List<double[]> values, String mesh, String layout) {
    MeshGraph g = new MeshGraph(7);
    MeshOps m = new MeshOps(g);
    List<MeshTensor> xs = new ArrayList<>();
    for (int i = 0; i < c.inputs().size(); i++) {
      xs.add(m.importTensor("in" + i, c.inputs().get(i), c.dtype()));
    }
    MeshTensor out = c.body().apply(m, xs);
    MeshTensor loss = null;
    List<MeshTensor> grads = List.of();
    if (out.dtype().isFloating()) {
      MeshTensor probe = m.randomNormal(out.shape(), out.dtype(), "probe", 0.0, 1.0);
      loss = m.reduceSum(m.mul(out, probe), Shape.SCALAR);
      grads = c.dtype().isFloating() ? Gradients.of(loss, xs) : List.of();
    }
    List<Tensor> feeds = new ArrayList<>();
    try (MeshRuntime rt = MeshRuntime.onVirtualCpus(g, MeshShape.parse(mesh), LayoutRules.parse(layout))) {
      rt.initialize();
      MeshRuntime.Step step = rt.step().fetch(out);
      for (int i = 0; i < xs.size(); i++) {
        Tensor t = HostTensors.of(c.inputs().get(i), c.dtype(), values.get(i));
        feeds.add(t);
        step.feed(xs.get(i), t);
      }
      if (loss != null) {
        step.fetch(loss);
        grads.forEach(step::fetch);
      }
      List<double[]> r = step.run();
      return new Run(r.get(0), loss == null ? 0 : r.get(1)[0], r.subList(Math.min(2, r.size()), r.size()),
          rt.counters());
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  /** Every layout of the given dim names over the axes of {@code mesh} (at most one dim per axis). */
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
