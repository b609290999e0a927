package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.neomesh.mesh.ir.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

class SmokeTest {
  @Test
  void matmulOnTwoByTwo() {
    Shape a = Shape.of(new Dim("batch", 4), new Dim("hidden", 8));
    Shape b = Shape.of(new Dim("hidden", 8), new Dim("out", 6));
    Shape o = Shape.of(new Dim("batch", 4), new Dim("out", 6));
    var c = new MeshHarness.Case("matmul", List.of(a, b), DType.FLOAT64, (m, xs) -> m.matmul(xs.get(0), xs.get(1), o),
        false);
    var values = c.values(1);
    var ref = MeshHarness.run(c, values, "x:1", "");
    var got = MeshHarness.run(c, values, "x:2,y:2", "batch:x,hidden:y");
    assertArrayEquals(ref.output(), got.output(), 1e-9);
    assertArrayEquals(ref.grads().get(0), got.grads().get(0), 1e-9);
    assertArrayEquals(ref.grads().get(1), got.grads().get(1), 1e-9);
  }
}
