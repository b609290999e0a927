package dev.neomesh.data.tfrecord;

import java.util.zip.CRC32C;

/** CRC32C with TensorFlow's mask ({@code ((crc >>> 15) | (crc << 17)) + 0xa282ead8}). */
final class Crc32c {
  private static final int MASK_DELTA = 0xa282ead8;

  private Crc32c() {}

  static int masked(byte[] data, int offset, int length) {
    CRC32C crc = new CRC32C();
    crc.update(data, offset, length);
    int c = (int) crc.getValue();
    return ((c >>> 15) | (c << 17)) + MASK_DELTA;
  }

  static int masked(java.nio.ByteBuffer data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    int c = (int) crc.getValue();
    return ((c >>> 15) | (c << 17)) + MASK_DELTA;
  }
}
