package dev.neomesh.mesh.ir;

import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.family.TType;

/** Element types of mesh tensors, with their TensorFlow class and width. */
public enum DType {
  FLOAT32(TFloat32.class, 4, true),
  BFLOAT16(TBfloat16.class, 2, true),
  FLOAT64(TFloat64.class, 8, true),
  INT32(TInt32.class, 4, false),
  INT64(TInt64.class, 8, false),
  BOOL(TBool.class, 1, false);

  private final Class<? extends TType> tfType;
  private final int bytes;
  private final boolean floating;

  DType(Class<? extends TType> tfType, int bytes, boolean floating) {
    this.tfType = tfType;
    this.bytes = bytes;
    this.floating = floating;
  }

  public Class<? extends TType> tfType() {
    return tfType;
  }

  public int bytes() {
    return bytes;
  }

  public boolean isFloating() {
    return floating;
  }
}
