package dev.neomesh.mesh;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits the {@code "a:b,c:d"} strings of mesh shapes and layout rules into pairs. Like
 * Mesh-TensorFlow, {@code ,} {@code ;} and whitespace all separate pairs, so
 * {@code "batch:x;heads:y"} and {@code "batch:x heads:y"} mean the same.
 */
final class Pairs {
  private Pairs() {}

  static List<String[]> parse(String text, String what, String example) {
    List<String[]> pairs = new ArrayList<>();
    if (text == null) {
      throw new LayoutException("Missing " + what + ": give pairs like \"" + example + "\"");
    }
    for (String token : text.trim().split("[,;\\s]+")) {
      if (token.isEmpty()) {
        continue;
      }
      String[] parts = token.split(":", -1);
      if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
        throw new LayoutException("Malformed pair \"" + token + "\" in " + what + " \"" + text
            + "\": each pair must be name:value, separated by ',', ';' or spaces, e.g. \"" + example + "\"");
      }
      pairs.add(new String[] {parts[0].trim(), parts[1].trim()});
    }
    return pairs;
  }
}
