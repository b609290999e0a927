package dev.neomesh.mesh;

/** A mesh shape, layout rule or tensor layout that cannot be used; the message says why and how to fix it. */
public final class LayoutException extends NeomeshException {
  public LayoutException(String message) {
    super(message);
  }
}
