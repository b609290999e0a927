package dev.neomesh.models.train;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import dev.neomesh.mesh.ir.MeshOps;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.lower.HostTensors;
import dev.neomesh.mesh.lower.MeshRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongToDoubleFunction;
import org.tensorflow.Tensor;

/**
 * Scalars the host computes each step and feeds to the graph (learning rate, Adafactor's decay
 * rate, Adam's bias corrections): each is an imported float32 scalar plus the function of the
 * step that gives its value, so the graph never holds a step counter of its own and a resumed run
 * feeds exactly what an uninterrupted one fed.
 */
public final class StepFeeds {
  private record Feed(MeshTensor tensor, LongToDoubleFunction value) {}

  private final MeshOps m;
  private final List<Feed> feeds = new ArrayList<>();

  public StepFeeds(MeshOps m) {
    this.m = m;
  }

  /** A float32 scalar named {@code name} whose value at step {@code t} is {@code value(t)}. */
  public MeshTensor scalar(String name, LongToDoubleFunction value) {
    MeshTensor t = m.importTensor(name, Shape.SCALAR, DType.FLOAT32);
    feeds.add(new Feed(t, value));
    return t;
  }

  /** The value of every feed at step {@code step}, by tensor name (for logs and tests). */
  public double value(MeshTensor t, long step) {
    for (Feed f : feeds) {
      if (f.tensor == t) {
        return f.value.applyAsDouble(step);
      }
    }
    throw new IllegalArgumentException(t + " is not a step feed");
  }

  /**
   * Adds every feed's value at {@code step} to {@code run}; returns the host tensors, which the
   * caller closes after the run.
   */
  public List<Tensor> feed(MeshRuntime.Step run, long step) {
    List<Tensor> out = new ArrayList<>();
    for (Feed f : feeds) {
      Tensor t = HostTensors.of(Shape.SCALAR, DType.FLOAT32, new double[] {f.value.applyAsDouble(step)});
      out.add(t);
      run.feed(f.tensor, t);
    }
    return out;
  }
}
