package dev.neomesh.mesh;

import java.util.Arrays;

/**
 * How one tensor is split over a mesh: for each of its dims, the mesh axis that splits it or -1.
 * Also answers the slice geometry: which part of the tensor each device holds.
 */
public final class TensorLayout {
  private final Shape shape;
  private final MeshShape mesh;
  private final int[] axisOfDim;
  private final Shape sliceShape;

  TensorLayout(Shape shape, MeshShape mesh, int[] axisOfDim) {
    this.shape = shape;
    this.mesh = mesh;
    this.axisOfDim = axisOfDim.clone();
    Dim[] dims = new Dim[shape.rank()];
    for (int i = 0; i < dims.length; i++) {
      Dim d = shape.get(i);
      dims[i] = axisOfDim[i] < 0 ? d : new Dim(d.name(), d.size() / mesh.axisSize(axisOfDim[i]));
    }
    this.sliceShape = Shape.of(dims);
  }

  public Shape shape() {
    return shape;
  }

  public MeshShape mesh() {
    return mesh;
  }

  /** The mesh axis splitting tensor dim {@code i}, or -1. */
  public int meshAxisOf(int dim) {
    return axisOfDim[dim];
  }

  /** The tensor dim split over mesh axis {@code axis}, or -1. */
  public int tensorDimOf(int axis) {
    for (int i = 0; i < axisOfDim.length; i++) {
      if (axisOfDim[i] == axis) {
        return i;
      }
    }
    return -1;
  }

  public boolean isReplicated() {
    return Arrays.stream(axisOfDim).allMatch(a -> a < 0);
  }

  /** The shape of the slice every device holds. */
  public Shape sliceShape() {
    return sliceShape;
  }

  /** Where device {@code pnum}'s slice begins, per tensor dim. */
  public long[] sliceBegin(int pnum) {
    int[] coords = mesh.coordinates(pnum);
    Shape slice = sliceShape;
    long[] begin = new long[shape.rank()];
    for (int i = 0; i < begin.length; i++) {
      begin[i] = axisOfDim[i] < 0 ? 0 : (long) coords[axisOfDim[i]] * slice.get(i).size();
    }
    return begin;
  }

  /**
   * The index of device {@code pnum}'s slice among the distinct slices: devices that differ only
   * on axes splitting none of the dims hold the same slice (replicas).
   */
  public int sliceIndex(int pnum) {
    int[] coords = mesh.coordinates(pnum);
    int index = 0;
    for (int i = 0; i < axisOfDim.length; i++) {
      if (axisOfDim[i] >= 0) {
        index = index * mesh.axisSize(axisOfDim[i]) + coords[axisOfDim[i]];
      }
    }
    return index;
  }

  /** True for the first device (lowest pnum) that holds its slice; replicas return false. */
  public boolean isFirstReplica(int pnum) {
    int[] coords = mesh.coordinates(pnum);
    for (int a = 0; a < mesh.rank(); a++) {
      if (tensorDimOf(a) < 0 && coords[a] != 0) {
        return false;
      }
    }
    return true;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorLayout t && t.shape.equals(shape) && t.mesh.equals(mesh)
        && Arrays.equals(t.axisOfDim, axisOfDim);
  }

  @Override
  public int hashCode() {
    return shape.hashCode() * 31 + Arrays.hashCode(axisOfDim);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < shape.rank(); i++) {
      sb.append(i > 0 ? ", " : "").append(shape.get(i));
      if (axisOfDim[i] >= 0) {
        sb.append("@").append(mesh.axes().get(axisOfDim[i]).name());
      }
    }
    return sb.append("]").toString();
  }
}
