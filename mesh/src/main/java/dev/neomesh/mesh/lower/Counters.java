package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.comm.Collective;
import dev.neomesh.mesh.comm.Comm;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a lowering communicates: for each collective kind and set of mesh axes, how many times it
 * runs per step and how many bytes each participating device contributes (the bytes of its input
 * slice). Filled from the planned steps an op carries out; the auto-layout cost model fills one
 * from the same plans, and tests check that the two are equal.
 */
public final class Counters {
  /** One counter line. */
  public record Entry(long count, long bytesPerDevice) {
    Entry plus(long bytes) {
      return new Entry(count + 1, bytesPerDevice + bytes);
    }
  }

  private final Map<String, Entry> entries = new TreeMap<>();
  private double transferred;

  /** Key of a collective over mesh axes, e.g. {@code allreduce[x,y]}. */
  public static String key(Collective kind, List<String> axes) {
    return kind.key() + "[" + String.join(",", axes) + "]";
  }

  /** Counts one step that moves data ({@link Comm#communicates()}); other steps are ignored. */
  public void record(Comm step, MeshShape mesh) {
    if (!step.communicates()) {
      return;
    }
    List<String> axes = new ArrayList<>();
    for (int a : step.axes()) {
      axes.add(mesh.axes().get(a).name());
    }
    entries.merge(key(step.kind(), axes), new Entry(1, step.bytesPerDevice()), (a, b) -> a.plus(b.bytesPerDevice()));
    transferred += PlacementMeshImpl.work(step).bytes();
  }

  /**
   * Bytes one device of a group receives per step by the algorithms the lowering runs
   * ({@link PlacementMeshImpl.Work}; for these symmetric collectives also what it sends): a ring
   * allreduce of S bytes moves 2(n-1)/n S, a reduce-scatter (n-1)/n S and an allconcat of slices of
   * S/n (n-1)/n S, so ZeRO's reduce-scatter and gather move what data parallelism's allreduce does,
   * though the counters' input bytes ({@link #totalBytes}) differ. Summed over the step's collectives.
   */
  public long transferredBytesPerDevice() {
    return Math.round(transferred);
  }

  public Map<String, Entry> entries() {
    return new TreeMap<>(entries);
  }

  public long count(String key) {
    Entry e = entries.get(key);
    return e == null ? 0 : e.count();
  }

  public long bytes(String key) {
    Entry e = entries.get(key);
    return e == null ? 0 : e.bytesPerDevice();
  }

  public long totalBytes() {
    return entries.values().stream().mapToLong(Entry::bytesPerDevice).sum();
  }

  /** A JSON object {"allreduce[x]":{"count":2,"bytes":1024},...}. */
  public String toJson() {
    StringBuilder sb = new StringBuilder("{");
    entries.forEach((k, v) -> sb.append(sb.length() > 1 ? "," : "").append('"').append(k).append("\":{\"count\":")
        .append(v.count()).append(",\"bytes\":").append(v.bytesPerDevice()).append('}'));
    return sb.append('}').toString();
  }

  @Override
  public String toString() {
    return toJson();
  }
}
