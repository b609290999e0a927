package dev.neomesh.mesh.comm;

/** The reductions an allreduce can apply. */
public enum Reduction { SUM, MAX, MIN }
