package dev.neomesh.models.train;

import java.io.PrintStream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress of a long job: a progress bar on stderr when it is a terminal (and {@code bar} is
 * asked for), and plain lines on {@code out} at every logged step either way, so logs and pipes
 * get a readable record and a terminal gets a live bar as well.
 */
final class Progress implements AutoCloseable {
  private final PrintStream out;
  private final ProgressBar bar;

  Progress(String task, long start, long max, boolean wantBar, PrintStream out) {
    this.out = out;
    if (wantBar && System.console() != null) {
      bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(max).startsFrom(start, java.time.Duration.ZERO)
          .setStyle(ProgressBarStyle.ASCII).setConsumer(new ConsoleProgressBarConsumer(System.err))
          .setUpdateIntervalMillis(500).build();
    } else {
      bar = null;
    }
  }

  void step(long done, String message) {
    if (bar != null) {
      bar.stepTo(done);
      bar.setExtraMessage(message);
    }
  }

  /** A line that stays (the bar redraws below it). */
  void line(String text) {
    if (bar != null) {
      System.err.print("\r\033[K");
      System.err.flush();
    }
    out.println(text);
    out.flush();
  }

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
    }
  }
}
