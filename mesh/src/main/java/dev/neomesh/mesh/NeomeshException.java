package dev.neomesh.mesh;

/**
 * A mistake a user can make (a mesh shape, a layout, a config key, a flag) as opposed to a bug.
 * The message names the offending input and says how to fix it; command-line entry points print
 * it without a stack trace and exit non-zero.
 */
public class NeomeshException extends RuntimeException {
  public NeomeshException(String message) {
    super(message);
  }

  public NeomeshException(String message, Throwable cause) {
    super(message, cause);
  }
}
