package dev.neomesh.data.tfrecord;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neomesh.data.DataException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TfRecordFileTest {
  static Path write(Path file, int records, int length) {
    try (TfRecordWriter w = new TfRecordWriter(file)) {
      for (int r = 0; r < records; r++) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = r * 1000 + i;
        w.write(TextRecord.encode(ids));
      }
    }
    return file;
  }

  @Test
  void recordsRoundTripSequentiallyAndByOffset(@TempDir Path dir) {
    Path f = write(dir.resolve("a.tfrecords"), 20, 65);
    try (TfRecordFile in = TfRecordFile.open(f)) {
      long[] offsets = in.offsets();
      assertEquals(20, offsets.length);
      List<int[]> seq = new ArrayList<>();
      in.iterator().forEachRemaining(e -> seq.add(TextRecord.decode(e.data(), f, e.offset())));
      for (int r = 19; r >= 0; r--) {
        int[] ids = TextRecord.decode(in.readAt(offsets[r]), f, offsets[r]);
        assertArrayEquals(seq.get(r), ids);
        assertEquals(r * 1000 + 64, ids[64]);
        assertEquals(65, ids.length);
      }
    }
  }

  @Test
  void crcMismatchNamesFileAndOffset(@TempDir Path dir) throws Exception {
    Path f = write(dir.resolve("bad.tfrecords"), 5, 10);
    long third;
    try (TfRecordFile in = TfRecordFile.open(f)) {
      third = in.offsets()[2];
    }
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.seek(third + 12 + 5);
      int b = raf.read();
      raf.seek(third + 12 + 5);
      raf.write(b ^ 0x01);
    }
    try (TfRecordFile in = TfRecordFile.open(f)) {
      var it = in.iterator();
      it.next();
      it.next();
      DataException e = assertThrows(DataException.class, it::next);
      assertTrue(e.getMessage().contains("bad.tfrecords") && e.getMessage().contains("CRC mismatch")
          && e.getMessage().contains("byte offset " + third), e.getMessage());
    }
    // a corrupt length field too
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.seek(0);
      raf.write(0x7f);
    }
    try (TfRecordFile in = TfRecordFile.open(f)) {
      DataException e = assertThrows(DataException.class, in::offsets);
      assertTrue(e.getMessage().contains("length field") && e.getMessage().contains("byte offset 0"), e.getMessage());
    }
  }

  @Test
  void truncationNamesFileAndOffset(@TempDir Path dir) throws Exception {
    Path f = write(dir.resolve("cut.tfrecords"), 4, 10);
    long last;
    try (TfRecordFile in = TfRecordFile.open(f)) {
      last = in.offsets()[3];
    }
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.setLength(Files.size(f) - 3);
    }
    try (TfRecordFile in = TfRecordFile.open(f)) {
      DataException e = assertThrows(DataException.class, in::offsets);
      assertTrue(e.getMessage().contains("cut.tfrecords") && e.getMessage().contains("truncated")
          && e.getMessage().contains("byte offset " + last), e.getMessage());
    }
  }

  @Test
  void notATextRecord(@TempDir Path dir) {
    Path f = dir.resolve("other.tfrecords");
    try (TfRecordWriter w = new TfRecordWriter(f)) {
      w.write(new byte[] {0x0a, 0x00});
    }
    try (TfRecordFile in = TfRecordFile.open(f)) {
      DataException e = assertThrows(DataException.class, () -> TextRecord.decode(in.readAt(0), f, 0));
      assertTrue(e.getMessage().contains("no int64 feature \"text\""), e.getMessage());
    }
  }
}
