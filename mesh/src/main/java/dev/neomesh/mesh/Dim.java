package dev.neomesh.mesh;

/**
 * A named dimension: the unit a model is written on. Two dims are equal when both name and size
 * are equal, so {@code batch:8} and {@code batch:4} are different dims of the same name.
 */
public record Dim(String name, int size) {
  public Dim {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("a dimension needs a non-empty name");
    }
    if (size <= 0) {
      throw new IllegalArgumentException("dimension " + name + " has size " + size + "; sizes must be positive");
    }
  }

  @Override
  public String toString() {
    return name + ":" + size;
  }
}
