package dev.neomesh.data.cli;

import dev.neomesh.data.DataException;
import java.io.PrintStream;
import java.util.Arrays;
import org.kohsuke.args4j.CmdLineException;
import org.kohsuke.args4j.CmdLineParser;
import org.kohsuke.args4j.ParserProperties;

/**
 * Shared main() handling: args4j parsing, {@code --verbose}, and the rule that a user error prints its
 * message (no stack trace unless {@code --verbose}) and exits non-zero (2 for bad flags, 1 otherwise).
 */
final class Cli {
  interface Body {
    void run() throws Exception;
  }

  private Cli() {}

  static void main(String tool, String[] args, Object options, Body body) {
    boolean verbose = Arrays.asList(args).contains("--verbose");
    PrintStream err = System.err;
    CmdLineParser parser = new CmdLineParser(options, ParserProperties.defaults().withUsageWidth(100));
    try {
      parser.parseArgument(args);
    } catch (CmdLineException e) {
      err.println(tool + ": " + e.getMessage());
      err.println("usage: " + tool + parser.printExample(org.kohsuke.args4j.OptionHandlerFilter.REQUIRED));
      parser.printUsage(err);
      System.exit(2);
    }
    try {
      body.run();
    } catch (DataException e) {
      err.println(tool + ": " + e.getMessage());
      if (verbose) e.printStackTrace(err);
      System.exit(1);
    } catch (Exception e) {
      err.println(tool + ": internal error: " + e);
      e.printStackTrace(err);
      System.exit(1);
    }
  }
}
