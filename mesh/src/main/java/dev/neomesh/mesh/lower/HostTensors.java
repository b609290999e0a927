package dev.neomesh.mesh.lower;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.DType;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TBool;

/** Copies between flat Java arrays (row-major) and TensorFlow host tensors. The caller closes tensors. */
public final class HostTensors {
  private HostTensors() {}

  private static org.tensorflow.ndarray.Shape tfShape(Shape shape) {
    return org.tensorflow.ndarray.Shape.of(shape.sizes());
  }

  /** A tensor of {@code dtype} (float or integer) from doubles. */
  public static Tensor of(Shape shape, DType dtype, double[] values) {
    if (values.length != shape.size()) {
      throw new IllegalArgumentException(values.length + " values for shape " + shape);
    }
    return switch (dtype) {
      case FLOAT32 -> {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
          f[i] = (float) values[i];
        }
        yield TFloat32.tensorOf(tfShape(shape), DataBuffers.of(f, true, false));
      }
      case FLOAT64 -> TFloat64.tensorOf(tfShape(shape), DataBuffers.of(values, true, false));
      case INT32 -> {
        int[] v = new int[values.length];
        for (int i = 0; i < v.length; i++) {
          v[i] = (int) values[i];
        }
        yield TInt32.tensorOf(tfShape(shape), DataBuffers.of(v, true, false));
      }
      case INT64 -> {
        long[] v = new long[values.length];
        for (int i = 0; i < v.length; i++) {
          v[i] = (long) values[i];
        }
        yield TInt64.tensorOf(tfShape(shape), DataBuffers.of(v, true, false));
      }
      default -> throw new IllegalArgumentException("no host conversion for " + dtype);
    };
  }

  public static Tensor ofInts(Shape shape, int[] values) {
    return TInt32.tensorOf(tfShape(shape), DataBuffers.of(values, true, false));
  }

  /** The values of a float, bfloat16, double, int or bool tensor as doubles, row-major (exact: each widens). */
  public static double[] toDoubles(Tensor t) {
    int n = (int) t.shape().size();
    double[] out = new double[n];
    if (t instanceof TFloat32 f) {
      float[] v = new float[n];
      f.copyTo(DataBuffers.of(v, false, false));
      for (int i = 0; i < n; i++) {
        out[i] = v[i];
      }
    } else if (t instanceof TBfloat16 h) {
      float[] v = new float[n]; // TensorFlow Java widens bfloat16 to float exactly
      h.copyTo(DataBuffers.of(v, false, false));
      for (int i = 0; i < n; i++) {
        out[i] = v[i];
      }
    } else if (t instanceof TFloat64 d) {
      d.copyTo(DataBuffers.of(out, false, false));
    } else if (t instanceof TInt32 in) {
      int[] v = new int[n];
      in.copyTo(DataBuffers.of(v, false, false));
      for (int i = 0; i < n; i++) {
        out[i] = v[i];
      }
    } else if (t instanceof TInt64 l) {
      long[] v = new long[n];
      l.copyTo(DataBuffers.of(v, false, false));
      for (int i = 0; i < n; i++) {
        out[i] = v[i];
      }
    } else if (t instanceof TBool b) {
      boolean[] v = new boolean[n];
      b.copyTo(DataBuffers.of(v, false, false));
      for (int i = 0; i < n; i++) {
        out[i] = v[i] ? 1 : 0;
      }
    } else {
      throw new IllegalArgumentException("cannot read " + t.dataType() + " tensors");
    }
    return out;
  }
}
