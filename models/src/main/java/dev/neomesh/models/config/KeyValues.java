package dev.neomesh.models.config;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The typed values of the keys one config sets ({@code present}, read by {@link ConfigReader}), the
 * JSON they were read from, and where it came from; a key it does not set reads as the table's
 * default. What {@link ConfigChecks} checks and {@link GptConfig} answers from.
 */
record KeyValues(ObjectNode json, Map<String, Object> present, String source) {
  KeyValues {
    present = Collections.unmodifiableMap(new LinkedHashMap<>(present)); // in the order the JSON gives them
  }

  /** True when the config sets {@code key} (to anything but null). */
  boolean has(String key) {
    return present.containsKey(key);
  }

  /** The key's value, or its default when the config does not set it (null when it has none). */
  Object get(String key) {
    ConfigKeys.Key k = ConfigKeys.get(key);
    if (k == null) {
      throw new IllegalArgumentException("no config key " + key);
    }
    return present.getOrDefault(key, k.def());
  }

  /** The key's value; a {@link ConfigException} saying {@code what} when it is neither set nor defaulted. */
  Object required(String key, String what) {
    Object v = get(key);
    if (v == null) {
      throw error("key \"" + key + "\" is required " + what);
    }
    return v;
  }

  int i(String key) {
    return (Integer) required(key, "(an integer)");
  }

  double d(String key) {
    return ((Number) required(key, "(a number)")).doubleValue();
  }

  boolean b(String key) {
    return (Boolean) get(key);
  }

  String s(String key) {
    return (String) get(key);
  }

  /** A CHOICE key's typed value (an enum constant). */
  <T> T choice(String key, Class<T> type) {
    return type.cast(get(key));
  }

  @SuppressWarnings("unchecked")
  List<Integer> ints(String key) {
    return (List<Integer>) get(key);
  }

  @SuppressWarnings("unchecked")
  List<String> strings(String key) {
    return (List<String>) get(key);
  }

  @SuppressWarnings("unchecked")
  Map<String, Object> map(String key) {
    return (Map<String, Object>) get(key);
  }

  /** A user error in this config: {@code model config <source>: <what>}. */
  ConfigException error(String what) {
    return new ConfigException("model config " + source + ": " + what);
  }
}
