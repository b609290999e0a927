package dev.neomesh.mesh;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** An ordered list of named dimensions with no repeated name: the shape of a mesh tensor. */
public record Shape(List<Dim> dims) {
  public Shape {
    dims = List.copyOf(dims);
    Set<String> seen = new HashSet<>();
    for (Dim d : dims) {
      if (!seen.add(d.name())) {
        throw new IllegalArgumentException("shape " + dims + " repeats dimension name " + d.name());
      }
    }
  }

  public static Shape of(Dim... dims) {
    return new Shape(Arrays.asList(dims));
  }

  public static final Shape SCALAR = new Shape(List.of());

  public int rank() {
    return dims.size();
  }

  public Dim get(int i) {
    return dims.get(i);
  }

  /** Number of elements. */
  public long size() {
    long n = 1;
    for (Dim d : dims) {
      n *= d.size();
    }
    return n;
  }

  /** Index of the dim with this name, or -1. */
  public int indexOf(String name) {
    for (int i = 0; i < dims.size(); i++) {
      if (dims.get(i).name().equals(name)) {
        return i;
      }
    }
    return -1;
  }

  public boolean contains(String name) {
    return indexOf(name) >= 0;
  }

  public boolean contains(Dim d) {
    int i = indexOf(d.name());
    return i >= 0 && dims.get(i).size() == d.size();
  }

  public Dim dim(String name) {
    int i = indexOf(name);
    if (i < 0) {
      throw new IllegalArgumentException("shape " + this + " has no dimension " + name);
    }
    return dims.get(i);
  }

  public List<String> names() {
    return dims.stream().map(Dim::name).toList();
  }

  /** Whether {@code other} has exactly these dims (names and sizes), in any order. */
  public boolean sameDims(Shape other) {
    return rank() == other.rank() && dims.containsAll(other.dims);
  }

  /** This shape without the named dims. */
  public Shape minus(Shape other) {
    return new Shape(dims.stream().filter(d -> !other.contains(d.name())).toList());
  }

  /** This shape followed by those dims of {@code other} it does not have yet. */
  public Shape union(Shape other) {
    List<Dim> out = new ArrayList<>(dims);
    for (Dim d : other.dims) {
      int i = indexOf(d.name());
      if (i < 0) {
        out.add(d);
      } else if (dims.get(i).size() != d.size()) {
        throw new IllegalArgumentException("dimension " + d.name() + " has size " + dims.get(i).size()
            + " in " + this + " but " + d.size() + " in " + other);
      }
    }
    return new Shape(out);
  }

  public Shape rename(String from, String to) {
    return new Shape(dims.stream().map(d -> d.name().equals(from) ? new Dim(to, d.size()) : d).toList());
  }

  public Shape resize(String name, int size) {
    return new Shape(dims.stream().map(d -> d.name().equals(name) ? new Dim(name, size) : d).toList());
  }

  public long[] sizes() {
    return dims.stream().mapToLong(Dim::size).toArray();
  }

  /** Row-major strides of a full (unsliced) tensor of this shape. */
  public long[] strides() {
    long[] s = new long[rank()];
    long acc = 1;
    for (int i = rank() - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= dims.get(i).size();
    }
    return s;
  }

  /** Product of the sizes of the dims before index i (Mesh-TensorFlow's cumprod). */
  public long sizeBefore(int i) {
    long n = 1;
    for (int k = 0; k < i; k++) {
      n *= dims.get(k).size();
    }
    return n;
  }

  @Override
  public String toString() {
    return dims.toString();
  }
}
