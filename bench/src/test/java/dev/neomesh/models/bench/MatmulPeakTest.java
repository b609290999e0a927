package dev.neomesh.models.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.mesh.lower.Devices;
import org.junit.jupiter.api.Test;

/** The peak gpt-step's utilisation divides by: a plausible rate for this CPU (a wrong FLOP count is off by 1000x). */
class MatmulPeakTest {
  @Test
  void twoThousandFortyEightCubedMatmulsRunAtACpusRate() {
    double oneDevice = MatmulPeak.flopsPerSecond(Devices.virtualCpus(1));
    // a core of this decade's x86 CPUs multiplies float32 at 10-200 GFLOP/s; a host has at most a few hundred cores
    int cores = Runtime.getRuntime().availableProcessors();
    assertTrue(oneDevice > 5e9 && oneDevice < 2e11 * cores, oneDevice + " FLOP/s on " + cores + " cores");
  }
}
