package dev.neomesh.models.config;

import dev.neomesh.mesh.NeomeshException;

/**
 * A model config a user wrote wrongly: an unknown key (the message names the closest known one), a
 * value of the wrong type or out of range (the message says what is allowed), or an unreadable file.
 */
public final class ConfigException extends NeomeshException {
  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
