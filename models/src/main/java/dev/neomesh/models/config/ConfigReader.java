package dev.neomesh.models.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.NeomeshException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a model config's JSON strictly against {@link ConfigKeys}: the text into a tree, each key's
 * value into its typed value (an unknown key names the closest known one; a wrong type, or a name
 * outside a key's choices, names the key, the value and what is allowed), {@code attention_types}
 * into one {@link AttentionType} per layer, and {@code mesh_shape} and {@code layout} into their
 * values, each parsed here once.
 */
final class ConfigReader {
  private ConfigReader() {}

  static final ObjectMapper JSON = new ObjectMapper();

  /** The JSON object of a config's text; {@code source} names it in errors. */
  static ObjectNode tree(String text, String source) {
    JsonNode tree;
    try {
      tree = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new ConfigException("model config " + source + " is not valid JSON: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
          + e.getLocation().getColumnNr() + ")"), e);
    }
    if (tree == null || !tree.isObject()) {
      throw new ConfigException("model config " + source + " must be a JSON object of keys, e.g. {\"n_head\": 4, ...}");
    }
    return (ObjectNode) tree;
  }

  /** A {@code --set} value: its JSON when it parses ({@code 1e-4}, {@code true}, {@code null}), else the text. */
  static JsonNode overrideValue(String text) {
    try {
      JsonNode v = JSON.readTree(text);
      return v == null || v.isMissingNode() ? TextNode.valueOf(text) : v;
    } catch (JsonProcessingException e) {
      return TextNode.valueOf(text);
    }
  }

  /** The typed value of every key {@code json} sets; a key set to null is left out (it reads as its default). */
  static KeyValues read(ObjectNode json, String source) {
    Map<String, Object> present = new LinkedHashMap<>();
    KeyValues errors = new KeyValues(json, Map.of(), source);
    for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      ConfigKeys.Key k = ConfigKeys.get(e.getKey());
      if (k == null) {
        throw errors.error("unknown key \"" + e.getKey() + "\"; did you mean \""
            + ConfigKeys.closest(e.getKey(), ConfigKeys.names()) + "\"? (known keys: "
            + String.join(", ", ConfigKeys.names()) + ")");
      }
      if (!e.getValue().isNull()) {
        present.put(k.name(), convert(k, e.getValue(), errors));
      }
    }
    return new KeyValues(json, present, source);
  }

  private static Object convert(ConfigKeys.Key k, JsonNode v, KeyValues errors) {
    String key = k.name();
    switch (k.type()) {
      case INT -> {
        if (v.isIntegralNumber() && v.canConvertToInt() || v.isNumber() && v.asDouble() == Math.rint(v.asDouble())
            && Math.abs(v.asDouble()) < Integer.MAX_VALUE) {
          return v.asInt();
        }
        throw errors.error("key \"" + key + "\" must be an integer, got " + v);
      }
      case NUMBER -> {
        if (v.isNumber()) {
          return v.asDouble();
        }
        throw errors.error("key \"" + key + "\" must be a number, got " + v);
      }
      case BOOL -> {
        if (v.isBoolean()) {
          return v.asBoolean();
        }
        throw errors.error("key \"" + key + "\" must be true or false, got " + v);
      }
      case STRING -> {
        if (!v.isTextual()) {
          throw errors.error("key \"" + key + "\" must be a string, got " + v);
        }
        return v.asText();
      }
      case CHOICE -> {
        String allowed = String.join(", ", k.choices().keySet());
        if (!v.isTextual()) {
          throw errors.error("key \"" + key + "\" must be a string (one of " + allowed + "), got " + v);
        }
        Object value = k.choices().get(v.asText());
        if (value == null) {
          throw errors.error("key \"" + key + "\" is \"" + v.asText() + "\"; allowed: " + allowed + " (closest: \""
              + ConfigKeys.closest(v.asText(), k.choices().keySet()) + "\")");
        }
        return value;
      }
      case INT_LIST -> {
        if (!v.isArray()) {
          throw errors.error("key \"" + key + "\" must be a list of integers, got " + v);
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) {
          if (!e.isIntegralNumber()) {
            throw errors.error("key \"" + key + "\" must be a list of integers; element " + e + " is not one");
          }
          out.add(e.asInt());
        }
        return List.copyOf(out);
      }
      case STRING_LIST -> {
        if (!v.isArray()) {
          throw errors.error("key \"" + key + "\" must be a list of strings, got " + v);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
          if (!e.isTextual()) {
            throw errors.error("key \"" + key + "\" must be a list of strings; element " + e + " is not one");
          }
          out.add(e.asText());
        }
        return List.copyOf(out);
      }
      case LIST -> {
        if (!v.isArray()) {
          throw errors.error("key \"" + key + "\" must be a list, e.g. [[\"my_dataset\", 25, \"documents_random\","
              + " 1.0]], got " + v);
        }
        return JSON.convertValue(v, List.class);
      }
      case OBJECT -> {
        if (!v.isObject()) {
          throw errors.error("key \"" + key + "\" must be an object of keys, got " + v);
        }
        return JSON.convertValue(v, Map.class);
      }
      case ATTENTION_TYPES -> {
        if (!v.isArray()) {
          throw errors.error("key \"attention_types\" must be a list like [[[\"global\",\"local\"],12]], got " + v);
        }
        return v; // expanded by attentionTypes once n_layer is known
      }
      default -> throw new IllegalStateException(k.type().toString());
    }
  }

  /**
   * {@code attention_types} as one type per layer: GPT-Neo's {@code [[[types...], repeat], ...]}, or
   * a flat list of types; the length must be n_layer. All global when the key is not set.
   */
  static List<AttentionType> attentionTypes(KeyValues v, int nLayer) {
    if (!v.has("attention_types")) {
      return Collections.nCopies(nLayer, AttentionType.GLOBAL);
    }
    List<String> names = new ArrayList<>();
    for (AttentionType t : AttentionType.values()) {
      names.add(ConfigKeys.jsonName(t));
    }
    String form = "attention_types must be written [[[types...], repeat], ...] (e.g. [[[\"global\",\"local\"],12]])"
        + " or as a flat list of types; types are " + names;
    List<AttentionType> out = new ArrayList<>();
    for (JsonNode item : (JsonNode) v.get("attention_types")) {
      if (item.isTextual()) {
        out.add(attentionType(item.asText(), names, v));
      } else if (item.isArray() && item.size() == 2 && item.get(0).isArray() && item.get(1).isIntegralNumber()) {
        if (item.get(1).asInt() < 0) {
          throw v.error("attention_types: repeat count " + item.get(1) + " must not be negative");
        }
        for (int r = 0; r < item.get(1).asInt(); r++) {
          for (JsonNode t : item.get(0)) {
            if (!t.isTextual()) {
              throw v.error(form + "; got " + t + " in " + item);
            }
            out.add(attentionType(t.asText(), names, v));
          }
        }
      } else {
        throw v.error(form + "; got item " + item);
      }
    }
    if (out.size() != nLayer) {
      throw v.error("attention_types expands to " + out.size() + " layers but n_layer is " + nLayer
          + ": make them equal");
    }
    return List.copyOf(out);
  }

  private static AttentionType attentionType(String t, List<String> names, KeyValues v) {
    int i = names.indexOf(t);
    if (i < 0) {
      throw v.error("attention_types: unknown type \"" + t + "\"; allowed: " + String.join(", ", names)
          + " (closest: \"" + ConfigKeys.closest(t, names) + "\")");
    }
    return AttentionType.values()[i];
  }

  /** {@code mesh_shape} as a mesh; a bad one is a {@link ConfigException} naming the key. */
  static MeshShape mesh(KeyValues v) {
    try {
      return MeshShape.parse(v.s("mesh_shape"));
    } catch (NeomeshException e) {
      throw v.error("mesh_shape: " + e.getMessage());
    }
  }

  /** {@code layout} as layout rules; a bad one is a {@link ConfigException} naming the key. */
  static LayoutRules layout(KeyValues v) {
    try {
      return LayoutRules.parse(v.s("layout"));
    } catch (NeomeshException e) {
      throw v.error("layout: " + e.getMessage());
    }
  }
}
