package dev.neomesh.mesh.cluster;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Whether a cluster's tasks accept connections: a TCP connect to each task's gRPC port. A task
 * whose process has ended refuses at once; one on a machine that is down or cut off times out.
 * Used before a cluster session opens (TensorFlow's master would otherwise wait for a missing
 * worker without end) and after a session run fails, to name the task that is gone.
 */
public final class ClusterHealth {
  private ClusterHealth() {}

  /** One task that did not accept a connection, and why. */
  public record Unreachable(int task, String address, String reason) {
    public String describe() {
      return "cluster task " + task + " (" + address + ")";
    }
  }

  /** Why {@code address} does not accept a connection within {@code timeout}, or empty when it does. */
  public static Optional<String> probe(String address, Duration timeout) {
    int colon = address.lastIndexOf(':');
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1))),
          (int) Math.max(1, timeout.toMillis()));
      return Optional.empty();
    } catch (java.net.SocketTimeoutException e) {
      return Optional.of("no answer within " + timeout.toMillis() / 1000.0 + " s");
    } catch (java.net.UnknownHostException e) {
      return Optional.of("unknown host " + e.getMessage());
    } catch (IOException e) {
      return Optional.of(String.valueOf(e.getMessage()).toLowerCase(java.util.Locale.ROOT));
    }
  }

  /** The first of {@code addresses} (in task order) that does not accept a connection within {@code timeout}. */
  public static Optional<Unreachable> firstUnreachable(List<String> addresses, Duration timeout) {
    for (int t = 0; t < addresses.size(); t++) {
      Optional<String> why = probe(addresses.get(t), timeout);
      if (why.isPresent()) {
        return Optional.of(new Unreachable(t, addresses.get(t), why.get()));
      }
    }
    return Optional.empty();
  }

  /**
   * The first task that stops accepting connections within {@code window}, probing every 250 ms;
   * empty when all still answer at its end. Used after a session run failed: a worker killed with
   * SIGKILL can close its RPC connections a moment before the kernel closes its listening socket,
   * so one probe right after the failure may still connect (CI saw exactly this: "Socket closed",
   * then a task that seemed alive).
   */
  public static Optional<Unreachable> awaitUnreachable(List<String> addresses, Duration window) {
    return probeUntil(addresses, window, Optional::isPresent);
  }

  /**
   * Waits until every task accepts a connection (workers may still be starting), at most
   * {@code deadline}; the first task still unreachable then, if any.
   */
  public static Optional<Unreachable> awaitAll(List<String> addresses, Duration deadline) {
    return probeUntil(addresses, deadline, Optional::isEmpty);
  }

  /** Probes every 250 ms until {@code done} holds for the result or {@code window} has passed; the last result. */
  private static Optional<Unreachable> probeUntil(List<String> addresses, Duration window,
      java.util.function.Predicate<Optional<Unreachable>> done) {
    long end = System.nanoTime() + window.toNanos();
    while (true) {
      Optional<Unreachable> u = firstUnreachable(addresses, Duration.ofSeconds(2));
      if (done.test(u) || System.nanoTime() > end) {
        return u;
      }
      try {
        Thread.sleep(250);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return u;
      }
    }
  }
}
