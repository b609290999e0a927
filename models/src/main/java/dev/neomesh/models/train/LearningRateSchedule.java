package dev.neomesh.models.train;

import dev.neomesh.mesh.NeomeshException;
import java.util.Locale;

/**
 * The learning rate of each step, computed on the host and fed to the graph as a scalar, as
 * GPT-Neo computes it: a decay ({@code linear}: polynomial decay to {@code 0.1·lr} at
 * {@code decayEnd}; {@code cosine}: {@code lr·(0.9·½(1+cos(π·min(t,E)/E))+0.1)}; anything else:
 * constant), and during the first {@code warmupSteps} steps the decayed rate times
 * {@code t/warmupSteps}. Steps {@code t} count from 0, so GPT-Neo's first step has rate 0.
 */
public record LearningRateSchedule(double lr, Decay decay, long decayEnd, long warmupSteps) {
  /** The decays of {@code lr_decay} (GPT-Neo: linear, cosine, anything else constant). */
  public enum Decay { LINEAR, COSINE, CONSTANT }

  public LearningRateSchedule {
    if (!(lr >= 0) || Double.isInfinite(lr)) {
      throw new NeomeshException("lr " + lr + " must be a non-negative number");
    }
    if (decay != Decay.CONSTANT && decayEnd <= 0) {
      throw new NeomeshException("lr_decay_end " + decayEnd + " must be positive for " + decay.name().toLowerCase(Locale.ROOT)
          + " decay (it defaults to train_steps)");
    }
    if (warmupSteps < 0) {
      throw new NeomeshException("warmup_steps " + warmupSteps + " must be >= 0");
    }
  }

  public static LearningRateSchedule constant(double lr) {
    return new LearningRateSchedule(lr, Decay.CONSTANT, 1, 0);
  }

  /** The rate of step {@code t} (0-based). */
  public double at(long t) {
    double e = decayEnd;
    double tc = Math.min(t, decayEnd);
    double decayed = switch (decay) {
      case LINEAR -> (lr - 0.1 * lr) * (1 - tc / e) + 0.1 * lr;
      case COSINE -> lr * (0.9 * 0.5 * (1 + Math.cos(Math.PI * tc / e)) + 0.1);
      case CONSTANT -> lr;
    };
    if (warmupSteps > 0 && t < warmupSteps) {
      return decayed * t / warmupSteps;
    }
    return decayed;
  }
}
