package dev.neomesh.data.tfrecord;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFOutOfRangeException;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.data.IteratorGetNext;
import org.tensorflow.op.io.ParseSingleExample;
import org.tensorflow.proto.Example;
import org.tensorflow.proto.Feature;
import org.tensorflow.proto.Features;
import org.tensorflow.proto.Int64List;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;

/** Both directions against TensorFlow's own TFRecord reader and writer ops. */
class TensorFlowInteropTest {
  static int[][] sampleRecords() {
    int[][] recs = new int[5][];
    for (int r = 0; r < recs.length; r++) {
      recs[r] = new int[9];
      for (int i = 0; i < 9; i++) recs[r][i] = r * 100_000 + i * 7 + (i == 3 ? 50_256 : 0);
    }
    return recs;
  }

  @Test
  void tensorFlowReadsAndParsesOurRecords(@TempDir Path dir) {
    Path file = dir.resolve("ours_0_5.tfrecords");
    int[][] recs = sampleRecords();
    try (TfRecordWriter w = new TfRecordWriter(file)) {
      for (int[] r : recs) w.write(TextRecord.encode(r));
    }
    List<long[]> read = new ArrayList<>();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      // TFRecordDatasetV2 (what tf.data.tfRecordDataset builds) fails in TF 2.18's own dataset graph
      // rewrite when the iterator is made ("3 inputs specified of 4"), so use TensorFlow's V1 op,
      // TFRecordDataset, which is the same reader without byte offsets.
      var ds = g.opBuilder("TFRecordDataset", "records", tf.scope())
          .addInput(tf.constant(NdArrays.vectorOfObjects(file.toString())).asOutput())
          .addInput(tf.constant("").asOutput())
          .addInput(tf.constant(256 * 1024L).asOutput())
          .build().output(0);
      var it = tf.data.iterator("records_iterator", "", List.of(TString.class), List.of(Shape.scalar()));
      var make = tf.data.makeIterator(ds, it.handle());
      IteratorGetNext next = tf.data.iteratorGetNext(it.handle(), List.of(TString.class), List.of(Shape.scalar()));
      @SuppressWarnings("unchecked")
      org.tensorflow.Operand<TString> serialized = (org.tensorflow.Operand<TString>) (Object) next.components().get(0);
      ParseSingleExample parsed = tf.io.parseSingleExample(serialized, List.of(tf.constant(new long[0])), 0L,
          List.of(), List.of("text"), List.of(), List.of(Shape.of(9)));
      try (Session s = new Session(g)) {
        s.runner().addTarget(make).run();
        while (true) {
          try (Result r = s.runner().fetch(parsed.denseValues().get(0)).run()) {
            TInt64 t = (TInt64) r.get(0);
            long[] row = new long[9];
            for (int i = 0; i < 9; i++) row[i] = t.getLong(i);
            read.add(row);
          } catch (TFOutOfRangeException end) {
            break;
          }
        }
      }
    }
    assertEquals(recs.length, read.size());
    for (int r = 0; r < recs.length; r++) {
      assertArrayEquals(java.util.Arrays.stream(recs[r]).asLongStream().toArray(), read.get(r));
    }
  }

  @Test
  void weReadRecordsWrittenByTensorFlow(@TempDir Path dir) throws java.io.IOException {
    Path file = dir.resolve("tf.tfrecords");
    int[][] recs = sampleRecords();
    byte[][] serialized = new byte[recs.length][];
    for (int r = 0; r < recs.length; r++) {
      Int64List.Builder l = Int64List.newBuilder();
      for (int v : recs[r]) l.addValue(v);
      serialized[r] = Example.newBuilder().setFeatures(Features.newBuilder()
          .putFeature("text", Feature.newBuilder().setInt64List(l).build())).build().toByteArray();
    }
    try (Graph g = new Graph();
        TString data = TString.tensorOfBytes(NdArrays.vectorOfObjects(serialized))) {
      Ops tf = Ops.create(g);
      Placeholder<TString> in = tf.placeholder(TString.class);
      var ds = tf.data.tensorSliceDataset(List.of(in), List.of(Shape.scalar()));
      var write = tf.data.datasetToTfRecord(ds, tf.constant(file.toString()), tf.constant(""));
      try (Session s = new Session(g)) {
        s.runner().feed(in, data).addTarget(write).run();
      }
    }
    List<int[]> ours = new ArrayList<>();
    try (TfRecordFile f = TfRecordFile.open(file)) {
      f.iterator().forEachRemaining(e -> ours.add(TextRecord.decode(e.data(), file, e.offset())));
      assertEquals(recs.length, f.offsets().length);
    }
    assertEquals(recs.length, ours.size());
    for (int r = 0; r < recs.length; r++) assertArrayEquals(recs[r], ours.get(r));
    // and our encoder is byte-identical to protobuf's
    for (int r = 0; r < recs.length; r++) assertArrayEquals(serialized[r], TextRecord.encode(recs[r]));
    assertEquals(Files.size(file), recs.length * 16L + java.util.Arrays.stream(serialized).mapToLong(b -> b.length).sum());
  }
}
