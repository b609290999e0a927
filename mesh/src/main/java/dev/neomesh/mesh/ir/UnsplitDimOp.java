package dev.neomesh.mesh.ir;

/**
 * An op that works along one dim that the layout must leave unsplit (slice, pad, concat). The
 * validator and the planner read {@link #dim} to rule such layouts out before lowering.
 */
public interface UnsplitDimOp {
  /** The dim the op works along. */
  String dim();
}
