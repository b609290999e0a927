package dev.neomesh.layout;

import dev.neomesh.mesh.Dim;
import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.AdamUpdateOp;
import dev.neomesh.mesh.ir.AssignOp;
import dev.neomesh.mesh.ir.BinaryOp;
import dev.neomesh.mesh.ir.EinsumOp;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.ReduceOp;
import dev.neomesh.mesh.ir.ReshapeOp;
import dev.neomesh.mesh.ir.ShiftOp;
import dev.neomesh.mesh.ir.SoftmaxOp;
import dev.neomesh.mesh.ir.UnsplitDimOp;
import dev.neomesh.mesh.ir.TopKOp;
import dev.neomesh.mesh.ir.VariableOp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A mesh graph flattened into int arrays once, so that the cost model can replay the lowering's
 * decisions for thousands of candidate layouts without touching {@code Shape} objects: dim names
 * and shapes are interned, tensors and ops numbered in creation order (the lowering's order).
 */
final class CompiledGraph {
  enum Kind { EINSUM, REDUCE_SUM, REDUCE_OTHER, SOFTMAX, ADD_SUB, ELEMENTWISE, RESHAPE, TRANSPOSE, TOP_K, SHIFT, VARIABLE,
    ASSIGN, ADAM_UPDATE, SOURCE, UNSPLIT_DIM_OP, OTHER }

  final MeshGraph graph;
  final List<String> dimNames = new ArrayList<>();
  final Map<String, Integer> dimIndex = new HashMap<>();
  /** Interned shapes: dim ids and sizes. */
  final List<int[]> shapeDims = new ArrayList<>();
  final List<long[]> shapeSizes = new ArrayList<>();
  final List<Shape> shapes = new ArrayList<>();
  private final Map<Shape, Integer> shapeIndex = new HashMap<>();

  final List<MeshTensor> tensors = new ArrayList<>();
  final Map<MeshTensor, Integer> tensorIndex = new IdentityHashMap<>();
  int[] tensorShape;
  int[] tensorBytes;

  final List<Op> ops;
  Kind[] kind;
  int[][] in;
  int[][] out;
  /** EINSUM: contracted dim ids; REDUCE: reduced dim ids; SHIFT: {dimPos, offset, wrap}; TOP_K: {dimPos}. */
  int[][] aux;
  /** EINSUM: union shape id; ADD_SUB: 1 when both inputs have equal shapes. */
  int[] aux2;

  /** Dims that slice, pad or concat work along: never splittable. */
  final Set<Integer> unsplittable = new HashSet<>();
  /** dim ids that appear together in one tensor or einsum union, so may not share a mesh axis. */
  boolean[][] together;
  /** gcd of every size each dim takes. */
  long[] dimGcd;
  /** Bytes moved through all tensors of each dim (to order the search). */
  double[] dimWeight;

  CompiledGraph(MeshGraph graph) {
    this.graph = graph;
    this.ops = List.copyOf(graph.ops());
    for (Op op : ops) {
      for (MeshTensor t : op.outputs()) {
        tensorIndex.put(t, tensors.size());
        tensors.add(t);
      }
    }
    int nt = tensors.size();
    tensorShape = new int[nt];
    tensorBytes = new int[nt];
    for (int t = 0; t < nt; t++) {
      tensorShape[t] = intern(tensors.get(t).shape());
      tensorBytes[t] = tensors.get(t).dtype().bytes();
    }
    int n = ops.size();
    kind = new Kind[n];
    in = new int[n][];
    out = new int[n][];
    aux = new int[n][];
    aux2 = new int[n];
    for (int i = 0; i < n; i++) {
      Op op = ops.get(i);
      in[i] = op.inputs().stream().mapToInt(this::id).toArray();
      out[i] = op.outputs().stream().mapToInt(this::id).toArray();
      classify(i, op);
    }
    int nd = dimNames.size();
    together = new boolean[nd][nd];
    dimGcd = new long[nd];
    dimWeight = new double[nd];
    for (int s = 0; s < shapes.size(); s++) {
      int[] ds = shapeDims.get(s);
      for (int a = 0; a < ds.length; a++) {
        dimGcd[ds[a]] = gcd(dimGcd[ds[a]], shapeSizes.get(s)[a]);
        for (int b = 0; b < ds.length; b++) {
          if (a != b) {
            together[ds[a]][ds[b]] = true;
          }
        }
      }
    }
    for (int t = 0; t < nt; t++) {
      long bytes = shapes.get(tensorShape[t]).size() * tensorBytes[t];
      for (int d : shapeDims.get(tensorShape[t])) {
        dimWeight[d] += bytes;
      }
    }
  }

  private static long gcd(long a, long b) {
    return b == 0 ? a : gcd(b, a % b);
  }

  int id(MeshTensor t) {
    Integer i = tensorIndex.get(t);
    if (i == null) {
      throw new IllegalArgumentException(t + " is not a tensor of this graph");
    }
    return i;
  }

  int dim(String name) {
    return dimIndex.computeIfAbsent(name, k -> {
      dimNames.add(k);
      return dimNames.size() - 1;
    });
  }

  int intern(Shape s) {
    Integer i = shapeIndex.get(s);
    if (i != null) {
      return i;
    }
    int[] ds = new int[s.rank()];
    for (int k = 0; k < ds.length; k++) {
      ds[k] = dim(s.get(k).name());
    }
    shapes.add(s);
    shapeDims.add(ds);
    shapeSizes.add(s.sizes());
    shapeIndex.put(s, shapes.size() - 1);
    return shapes.size() - 1;
  }

  private void classify(int i, Op op) {
    aux[i] = new int[0];
    if (op instanceof EinsumOp einsum) {
      Shape union = einsum.union();
      aux2[i] = intern(union);
      Shape o = op.output().shape();
      aux[i] = union.dims().stream().filter(d -> !o.contains(d.name())).mapToInt(d -> dim(d.name())).toArray();
      kind[i] = Kind.EINSUM;
    } else if (op instanceof ReduceOp r) {
      Shape x = op.inputs().get(0).shape();
      Shape o = op.output().shape();
      aux[i] = x.dims().stream().filter(d -> !o.contains(d.name())).mapToInt(d -> dim(d.name())).toArray();
      kind[i] = r.kind() == ReduceOp.Kind.SUM ? Kind.REDUCE_SUM : Kind.REDUCE_OTHER;
    } else if (op instanceof BinaryOp b) {
      boolean addSub = b.kind() == BinaryOp.Kind.ADD || b.kind() == BinaryOp.Kind.SUB;
      kind[i] = addSub ? Kind.ADD_SUB : Kind.ELEMENTWISE;
      aux2[i] = op.inputs().get(0).shape().equals(op.inputs().get(1).shape()) ? 1 : 0;
    } else if (op instanceof ReshapeOp) {
      Set<Dim> a = new HashSet<>(op.inputs().get(0).shape().dims());
      kind[i] = a.equals(new HashSet<>(op.output().shape().dims())) ? Kind.TRANSPOSE : Kind.RESHAPE;
    } else if (op instanceof SoftmaxOp s) {
      aux[i] = new int[] {op.inputs().get(0).shape().indexOf(s.dim())};
      kind[i] = Kind.SOFTMAX;
    } else if (op instanceof TopKOp k) {
      aux[i] = new int[] {op.inputs().get(0).shape().indexOf(k.dim())};
      kind[i] = Kind.TOP_K;
    } else if (op instanceof ShiftOp shift) {
      aux[i] = new int[] {op.inputs().get(0).shape().indexOf(shift.dim()), shift.offset(), shift.wrap() ? 1 : 0};
      kind[i] = Kind.SHIFT;
    } else if (op instanceof VariableOp) {
      kind[i] = Kind.VARIABLE;
    } else if (op instanceof AssignOp) {
      kind[i] = Kind.ASSIGN;
    } else if (op instanceof AdamUpdateOp) {
      kind[i] = Kind.ADAM_UPDATE;
    } else if (op instanceof UnsplitDimOp along) {
      String d = along.dim();
      unsplittable.add(dim(d));
      kind[i] = Kind.UNSPLIT_DIM_OP;
    } else if (op.inputs().isEmpty()) {
      kind[i] = Kind.SOURCE;
    } else {
      String cls = op.getClass().getSimpleName();
      kind[i] = switch (cls) {
        case "UnaryOp", "CastOp", "WhereOp", "StopGradientOp", "OneHotOp" -> Kind.ELEMENTWISE;
        default -> Kind.OTHER;
      };
    }
  }
}
