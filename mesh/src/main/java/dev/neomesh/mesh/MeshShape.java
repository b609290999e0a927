package dev.neomesh.mesh;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The named axes of a device mesh, e.g. {@code x:2,y:4} for 8 devices. Devices are numbered
 * row-major: the last axis varies fastest, so on {@code x:2,y:4} device 5 has coordinates (1,1).
 */
public record MeshShape(List<Dim> axes) {
  public MeshShape {
    axes = List.copyOf(axes);
  }

  public static MeshShape parse(String text) {
    List<Dim> axes = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (String[] p : Pairs.parse(text, "mesh shape", "x:2,y:4")) {
      int size;
      try {
        size = Integer.parseInt(p[1]);
      } catch (NumberFormatException e) {
        throw new LayoutException("Mesh axis \"" + p[0] + "\" has size \"" + p[1] + "\" in mesh shape \"" + text
            + "\": sizes must be positive integers, e.g. \"x:2,y:4\"");
      }
      if (size <= 0) {
        throw new LayoutException("Mesh axis \"" + p[0] + "\" has size " + size + " in mesh shape \"" + text
            + "\": sizes must be positive integers");
      }
      if (!seen.add(p[0])) {
        throw new LayoutException("Mesh shape \"" + text + "\" names mesh axis \"" + p[0]
            + "\" twice: give each axis once, e.g. \"x:2,y:4\"");
      }
      axes.add(new Dim(p[0], size));
    }
    if (axes.isEmpty()) {
      throw new LayoutException("Mesh shape \"" + text + "\" has no axes: give at least one, e.g. \"x:1\"");
    }
    return new MeshShape(axes);
  }

  public int rank() {
    return axes.size();
  }

  /** Number of devices. */
  public int size() {
    int n = 1;
    for (Dim d : axes) {
      n *= d.size();
    }
    return n;
  }

  public int axisSize(int axis) {
    return axes.get(axis).size();
  }

  public int axisIndex(String name) {
    for (int i = 0; i < axes.size(); i++) {
      if (axes.get(i).name().equals(name)) {
        return i;
      }
    }
    return -1;
  }

  /** Coordinates of a device number (row-major). */
  public int[] coordinates(int pnum) {
    int[] c = new int[rank()];
    for (int i = rank() - 1; i >= 0; i--) {
      c[i] = pnum % axes.get(i).size();
      pnum /= axes.get(i).size();
    }
    return c;
  }

  public int pnum(int[] coordinates) {
    int p = 0;
    for (int i = 0; i < rank(); i++) {
      p = p * axes.get(i).size() + coordinates[i];
    }
    return p;
  }

  /**
   * The groups of devices that differ only in the given axes, each in order of their coordinates
   * on those axes: the participants of one collective over those axes.
   */
  public List<int[]> groups(int... groupAxes) {
    Set<Integer> inGroup = new HashSet<>();
    for (int a : groupAxes) {
      inGroup.add(a);
    }
    List<int[]> groups = new ArrayList<>();
    int groupSize = 1;
    for (int a : groupAxes) {
      groupSize *= axisSize(a);
    }
    for (int p = 0; p < size(); p++) {
      int[] c = coordinates(p);
      boolean leader = true;
      for (int a : groupAxes) {
        leader &= c[a] == 0;
      }
      if (!leader) {
        continue;
      }
      int[] members = new int[groupSize];
      for (int k = 0; k < groupSize; k++) {
        int[] cc = c.clone();
        int rem = k;
        for (int j = groupAxes.length - 1; j >= 0; j--) {
          cc[groupAxes[j]] = rem % axisSize(groupAxes[j]);
          rem /= axisSize(groupAxes[j]);
        }
        members[k] = pnum(cc);
      }
      groups.add(members);
    }
    return groups;
  }

  @Override
  public String toString() {
    return String.join(",", axes.stream().map(Dim::toString).toList());
  }
}
