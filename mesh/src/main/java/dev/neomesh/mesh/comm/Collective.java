package dev.neomesh.mesh.comm;

/** The kinds of communication a lowering can add; counters and the cost model are keyed on them. */
public enum Collective {
  ALLREDUCE,
  ALLCONCAT,
  ALLTOALL,
  SHIFT,
  REDUCESCATTER;

  public String key() {
    return name().toLowerCase();
  }
}
