package dev.neomesh.mesh.ckpt;

import dev.neomesh.mesh.NeomeshException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The small JSON file written next to each checkpoint ({@code ckpt-<step>.manifest.json}): its step,
 * number of data shards, the mesh and layout it was written from (information only: restoring does
 * not need them), and every variable's name, dtype and full shape. Written last, by rename, so its
 * presence marks the checkpoint complete; and it lets a trainer say exactly which variable differs.
 * One variable per line, so it is read back without a JSON library.
 */
public record Manifest(long step, int dataShards, String mesh, String layout, List<Entry> variables) {
  static final String FORMAT = "neomesh-checkpoint-1";

  /** One saved variable: its name (the checkpoint key), element type and full (unsliced) shape. */
  public record Entry(String name, String dtype, List<String> dimNames, long[] sizes) {
    /** The shape as {@code [io:8, hidden:12]}. */
    public String shapeText() {
      StringBuilder sb = new StringBuilder("[");
      for (int i = 0; i < sizes.length; i++) {
        sb.append(i > 0 ? ", " : "").append(dimNames.get(i)).append(':').append(sizes[i]);
      }
      return sb.append(']').toString();
    }
  }

  public Manifest {
    variables = List.copyOf(variables);
  }

  public Entry entry(String name) {
    for (Entry e : variables) {
      if (e.name().equals(name)) {
        return e;
      }
    }
    return null;
  }

  String toJson() {
    StringBuilder sb = new StringBuilder("{\n");
    sb.append("  \"format\": \"").append(FORMAT).append("\",\n");
    sb.append("  \"step\": ").append(step).append(",\n");
    sb.append("  \"data_shards\": ").append(dataShards).append(",\n");
    sb.append("  \"mesh\": ").append(quote(mesh)).append(",\n");
    sb.append("  \"layout\": ").append(quote(layout)).append(",\n");
    sb.append("  \"variables\": [\n");
    for (int i = 0; i < variables.size(); i++) {
      Entry e = variables.get(i);
      sb.append("    {\"name\": ").append(quote(e.name())).append(", \"dtype\": ").append(quote(e.dtype()))
          .append(", \"shape\": [");
      for (int d = 0; d < e.sizes().length; d++) {
        sb.append(d > 0 ? ", " : "").append("[").append(quote(e.dimNames().get(d))).append(", ")
            .append(e.sizes()[d]).append("]");
      }
      sb.append("]}").append(i + 1 < variables.size() ? "," : "").append('\n');
    }
    return sb.append("  ]\n}\n").toString();
  }

  private static final Pattern NUMBER = Pattern.compile("\"(step|data_shards)\":\\s*(-?\\d+)");
  private static final Pattern TEXT = Pattern.compile("\"(format|mesh|layout)\":\\s*(\"(?:[^\"\\\\]|\\\\.)*\")");
  private static final Pattern VARIABLE = Pattern.compile(
      "\\{\"name\":\\s*(\"(?:[^\"\\\\]|\\\\.)*\"),\\s*\"dtype\":\\s*\"(\\w+)\",\\s*\"shape\":\\s*\\[(.*)\\]\\}");
  private static final Pattern DIM = Pattern.compile("\\[(\"(?:[^\"\\\\]|\\\\.)*\"),\\s*(\\d+)\\]");

  static Manifest read(Path file) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new NeomeshException("cannot read checkpoint manifest " + file + ": " + e.getMessage()
          + ". Check the file's permissions, or delete this checkpoint's files to use an older one", e);
    }
    long step = -1;
    int shards = -1;
    String format = null;
    String mesh = "";
    String layout = "";
    Matcher m = NUMBER.matcher(text);
    while (m.find()) {
      if (m.group(1).equals("step")) {
        step = Long.parseLong(m.group(2));
      } else {
        shards = Integer.parseInt(m.group(2));
      }
    }
    m = TEXT.matcher(text);
    while (m.find()) {
      switch (m.group(1)) {
        case "format" -> format = unquote(m.group(2));
        case "mesh" -> mesh = unquote(m.group(2));
        default -> layout = unquote(m.group(2));
      }
    }
    if (!FORMAT.equals(format) || step < 0 || shards < 1) {
      throw new NeomeshException("checkpoint manifest " + file + " is corrupt or not a neomesh manifest (expected "
          + "\"format\": \"" + FORMAT + "\", a step and data_shards). Delete this checkpoint's files "
          + "(ckpt-<step>.*) to fall back to an older one");
    }
    List<Entry> vars = new ArrayList<>();
    for (String line : text.split("\n")) {
      Matcher v = VARIABLE.matcher(line.trim());
      if (v.find()) {
        List<String> names = new ArrayList<>();
        List<Long> sizes = new ArrayList<>();
        Matcher d = DIM.matcher(v.group(3));
        while (d.find()) {
          names.add(unquote(d.group(1)));
          sizes.add(Long.parseLong(d.group(2)));
        }
        vars.add(new Entry(unquote(v.group(1)), v.group(2), names, sizes.stream().mapToLong(Long::longValue).toArray()));
      }
    }
    return new Manifest(step, shards, mesh, layout, vars);
  }

  private static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private static String unquote(String q) {
    String s = q.substring(1, q.length() - 1);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 1 < s.length()) {
        c = s.charAt(++i);
      }
      sb.append(c);
    }
    return sb.toString();
  }
}
