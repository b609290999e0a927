package dev.neomesh.data;

/**
 * An error the user can cause with data: a missing or empty input folder, a corrupt or truncated
 * file, a bad JSONL line, a token id outside the vocabulary, an inconsistent dataset config. The
 * message names the file (with line or byte offset where there is one) and says what to do about
 * it; command-line mains print only the message (the stack trace with {@code --verbose}).
 */
public final class DataException extends RuntimeException {
  public DataException(String message) {
    super(message);
  }

  public DataException(String message, Throwable cause) {
    super(message, cause);
  }
}
