package dev.neomesh.mesh.ir;

/**
 * An op that works along one dim that the layout must leave unsplit (slice, pad, concat, cumsum, a state write's block). The
 * validator and the planner read {@link #dim} to rule such layouts out before lowering.
 */
public interface UnsplitDimOp {
  /** The dim the op works along, which must stay unsplit; null when an instance needs none. */
  String dim();
}
