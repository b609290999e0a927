package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ValuesTest {
  @Test
  void meshShapeParsesAnySeparator() {
    MeshShape expected = new MeshShape(List.of(new Dim("x", 2), new Dim("y", 4)));
    assertEquals(expected, MeshShape.parse("x:2,y:4"));
    assertEquals(expected, MeshShape.parse("x:2;y:4"));
    assertEquals(expected, MeshShape.parse(" x:2  y:4 "));
    assertEquals(8, expected.size());
  }

  @Test
  void layoutRulesParseAnySeparator() {
    LayoutRules a = LayoutRules.parse("d_ff:model;heads:model");
    assertEquals(a, LayoutRules.parse("d_ff:model,heads:model"));
    assertEquals(a, LayoutRules.parse("d_ff:model heads:model"));
    assertEquals(LayoutRules.NONE, LayoutRules.parse(""));
  }

  @Test
  void malformedPairIsNamed() {
    var e = assertThrows(LayoutException.class, () -> LayoutRules.parse("d_ff;heads"));
    assertEquals("Malformed pair \"d_ff\" in layout \"d_ff;heads\": each pair must be name:value, separated by"
        + " ',', ';' or spaces, e.g. \"batch:x,heads:y\"", e.getMessage());
    var m = assertThrows(LayoutException.class, () -> MeshShape.parse("x2,y:4"));
    assertTrue(m.getMessage().startsWith("Malformed pair \"x2\" in mesh shape \"x2,y:4\""), m.getMessage());
  }

  @Test
  void duplicateMeshAxis() {
    var e = assertThrows(LayoutException.class, () -> MeshShape.parse("x:2,x:4"));
    assertEquals("Mesh shape \"x:2,x:4\" names mesh axis \"x\" twice: give each axis once, e.g. \"x:2,y:4\"",
        e.getMessage());
  }

  @Test
  void nonPositiveAndNonNumericSizes() {
    var e = assertThrows(LayoutException.class, () -> MeshShape.parse("x:0"));
    assertEquals("Mesh axis \"x\" has size 0 in mesh shape \"x:0\": sizes must be positive integers", e.getMessage());
    var f = assertThrows(LayoutException.class, () -> MeshShape.parse("x:-2"));
    assertTrue(f.getMessage().contains("has size -2"));
    var g = assertThrows(LayoutException.class, () -> MeshShape.parse("x:two"));
    assertTrue(g.getMessage().contains("has size \"two\""));
  }

  @Test
  void dimensionMappedTwice() {
    var e = assertThrows(LayoutException.class, () -> LayoutRules.parse("batch:x,batch:y"));
    assertTrue(e.getMessage().startsWith("Layout rules map dimension \"batch\" twice"), e.getMessage());
  }

  @Test
  void tensorLayoutAsMeshTensorFlow() {
    MeshShape mesh = MeshShape.parse("batch:4,model:8");
    LayoutRules rules = LayoutRules.parse("batch:batch,d_ff:model,heads:model");
    Shape s = Shape.of(new Dim("batch", 128), new Dim("length", 500), new Dim("d_ff", 2048));
    TensorLayout l = rules.layoutOf("t", s, mesh);
    assertEquals(0, l.meshAxisOf(0));
    assertEquals(-1, l.meshAxisOf(1));
    assertEquals(1, l.meshAxisOf(2));
    assertEquals(Shape.of(new Dim("batch", 32), new Dim("length", 500), new Dim("d_ff", 256)), l.sliceShape());
  }

  @Test
  void twoDimsOnOneAxisNamesTensorDimsAndRules() {
    MeshShape mesh = MeshShape.parse("batch:4,model:8");
    LayoutRules rules = LayoutRules.parse("batch:batch,d_ff:model,heads:model");
    Shape s = Shape.of(new Dim("d_ff", 16), new Dim("heads", 8));
    var e = assertThrows(LayoutException.class, () -> rules.layoutOf("w", s, mesh));
    assertEquals("Invalid layout for tensor \"w\" [d_ff:16, heads:8]: dims \"d_ff\" and \"heads\" are both split over"
        + " mesh axis \"model\" (rules \"d_ff:model\" and \"heads:model\"). A tensor can split at most one of its dims"
        + " over each mesh axis: map one of them to another axis or drop its rule", e.getMessage());
  }

  @Test
  void notDivisibleNamesTensorDimAndRule() {
    MeshShape mesh = MeshShape.parse("x:2,y:4");
    Shape s = Shape.of(new Dim("channels", 3));
    var e = assertThrows(LayoutException.class, () -> LayoutRules.parse("channels:x").layoutOf("img", s, mesh));
    assertEquals("Invalid layout for tensor \"img\" [channels:3]: dim \"channels\" (size 3) is not divisible by mesh"
        + " axis \"x\" (size 2), rule \"channels:x\". Split \"channels\" over an axis whose size divides 3, or drop"
        + " the rule", e.getMessage());
  }

  @Test
  void rulesForAbsentMeshAxesAreIgnored() {
    TensorLayout l = LayoutRules.parse("a:z").layoutOf("t", Shape.of(new Dim("a", 3)), MeshShape.parse("x:2"));
    assertTrue(l.isReplicated());
  }

  @Test
  void sliceGeometryIsRowMajor() {
    MeshShape mesh = MeshShape.parse("processor_rows:2,processor_cols:4");
    Shape s = Shape.of(new Dim("batch", 100), new Dim("rows", 28), new Dim("cols", 28), new Dim("ch", 3));
    TensorLayout l = LayoutRules.parse("rows:processor_rows;cols:processor_cols").layoutOf("t", s, mesh);
    int p = mesh.pnum(new int[] {0, 1});
    assertEquals(1, p);
    assertArrayEquals(new long[] {0, 0, 7, 0}, l.sliceBegin(p));
    assertEquals(Shape.of(new Dim("batch", 100), new Dim("rows", 14), new Dim("cols", 7), new Dim("ch", 3)),
        l.sliceShape());
    TensorLayout b = LayoutRules.parse("batch:processor_cols").layoutOf("t", s, mesh);
    assertArrayEquals(new long[] {75, 0, 0, 0}, b.sliceBegin(mesh.pnum(new int[] {0, 3})));
    assertArrayEquals(new long[] {75, 0, 0, 0}, b.sliceBegin(mesh.pnum(new int[] {1, 3})));
    assertTrue(b.isFirstReplica(mesh.pnum(new int[] {0, 3})));
    assertFalse(b.isFirstReplica(mesh.pnum(new int[] {1, 3})));
    assertEquals(b.sliceIndex(3), b.sliceIndex(7));
  }

  @Test
  void groupsDifferOnlyInTheirAxes() {
    MeshShape mesh = MeshShape.parse("x:2,y:4");
    assertEquals(List.of(List.of(0, 4), List.of(1, 5), List.of(2, 6), List.of(3, 7)),
        mesh.groups(0).stream().map(g -> java.util.Arrays.stream(g).boxed().toList()).toList());
    assertEquals(List.of(List.of(0, 1, 2, 3), List.of(4, 5, 6, 7)),
        mesh.groups(1).stream().map(g -> java.util.Arrays.stream(g).boxed().toList()).toList());
    assertEquals(1, mesh.groups(0, 1).size());
  }
}
