package dev.neomesh.bench;

import dev.neomesh.mesh.NeomeshException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.util.OptionalInt;
import org.kohsuke.args4j.CmdLineException;
import org.kohsuke.args4j.CmdLineParser;
import org.kohsuke.args4j.Option;
import org.kohsuke.args4j.ParserProperties;

/**
 * The one command-line parser of every benchmark and demo main ({@code scripts/bench ...},
 * {@code scripts/mesh_demo}). A main declares its flags as args4j {@code @Option} fields of a
 * subclass, with their defaults as field initialisers, and hands an instance to {@link #parse}:
 * flags are {@code --name value} or {@code --name=value}; {@code --help} prints the usage (flags
 * in declaration order, with their defaults) and exits 0; a bad flag prints
 * {@code "<command>: <message>"} and the usage to stderr and exits 2. Checks that the annotations
 * cannot say (a range, a list of values) go in {@link #check}.
 */
public abstract class BenchFlags {
  @Option(name = "--help", aliases = "-h", help = true, usage = "print this help and exit")
  public boolean help;

  /** Checks the parsed values; throws {@link FlagException} naming the flag and what it expects. */
  protected void check() {}

  /** A bad flag value that args4j's types let through; the message names the flag. */
  public static final class FlagException extends NeomeshException {
    public FlagException(String message) {
      super(message);
    }
  }

  /**
   * Parses {@code args} into {@code flags}. Returns empty when the main should go on, 0 after
   * printing the usage to {@code out} for {@code --help}, and 2 after printing the error and the
   * usage to {@code err}. {@code command} is how it is run after {@code scripts/}, e.g.
   * {@code "bench mesh-overhead"}; it starts every error line.
   */
  public static OptionalInt parse(String command, BenchFlags flags, String[] args, PrintStream out, PrintStream err) {
    CmdLineParser parser = new CmdLineParser(flags,
        ParserProperties.defaults().withUsageWidth(100).withOptionSorter(null));
    String usage = usage(command, parser); // before parsing, so that it shows the defaults
    try {
      parser.parseArgument(args);
      if (flags.help) {
        out.print(usage);
        out.flush();
        return OptionalInt.of(0);
      }
      flags.check();
      return OptionalInt.empty();
    } catch (CmdLineException | FlagException e) {
      err.println(command + ": " + e.getMessage());
      err.print(usage);
      err.flush();
      return OptionalInt.of(2);
    }
  }

  /** {@link #parse} for a {@code main}: exits after {@code --help} or a bad flag, else returns {@code flags}. */
  public static <T extends BenchFlags> T parseOrExit(String command, T flags, String[] args) {
    OptionalInt exit = parse(command, flags, args, System.out, System.err);
    if (exit.isPresent()) {
      System.exit(exit.getAsInt());
    }
    return flags;
  }

  private static String usage(String command, CmdLineParser parser) {
    StringWriter w = new StringWriter();
    w.write("usage: scripts/" + command);
    parser.printSingleLineUsage(w, null);
    w.write(System.lineSeparator());
    parser.printUsage(w, null);
    return w.toString();
  }
}
