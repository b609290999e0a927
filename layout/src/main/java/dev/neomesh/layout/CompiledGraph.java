package dev.neomesh.layout;

import dev.neomesh.mesh.Shape;
import dev.neomesh.mesh.ir.AfterOp;
import dev.neomesh.mesh.ir.AssignOp;
import dev.neomesh.mesh.ir.BinaryOp;
import dev.neomesh.mesh.ir.EinsumOp;
import dev.neomesh.mesh.ir.SoftmaxOp;
import dev.neomesh.mesh.ir.UnaryOp;
import dev.neomesh.mesh.ir.MeshGraph;
import dev.neomesh.mesh.ir.MeshTensor;
import dev.neomesh.mesh.ir.Op;
import dev.neomesh.mesh.ir.UnsplitDimOp;
import dev.neomesh.mesh.ir.VariableOp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A mesh graph flattened into int arrays once, so that the cost model can price thousands of
 * candidate layouts cheaply: dim names and shapes are interned, tensors and ops numbered in
 * creation order (the lowering's order), and each op's local work ({@link OpWork}) is looked up once.
 */
final class CompiledGraph {
  final MeshGraph graph;
  final List<String> dimNames = new ArrayList<>();
  final Map<String, Integer> dimIndex = new HashMap<>();
  /** Interned shapes: dim ids and sizes. */
  final List<int[]> shapeDims = new ArrayList<>();
  final List<long[]> shapeSizes = new ArrayList<>();
  final List<Shape> shapes = new ArrayList<>();
  private final Map<Shape, Integer> shapeIndex = new HashMap<>();

  final List<MeshTensor> tensors = new ArrayList<>();
  /** Per {@link MeshTensor#id}, this graph's number of the tensor (-1: not an op output listed here). */
  private final int[] tensorIndex;
  int[] tensorShape;
  int[] tensorBytes;

  final List<Op> ops;
  int[][] in;
  int[][] out;
  /** The op that makes each tensor. */
  int[] producer;
  /** Each op's local work; {@link #workShape} is the interned id of its shape. */
  OpWork[] work;
  int[] workShape;
  /** Variables and assignments: the ops whose inputs only initialise (or only feed) state. */
  boolean[] isVariable;
  boolean[] isAssign;
  /** Ops whose output is their first input's buffer (an {@link AfterOp}: an identity with control dependencies). */
  boolean[] isAlias;
  /**
   * Per op, the inputs whose buffer TensorFlow's kernel may write its output into when nothing else
   * reads them afterwards (elementwise ops: unary, binary, softmax, an einsum that sums nothing, on an
   * input of the output's shape and dtype; {@code forward_input_or_allocate_output}).
   */
  int[][] forwardable;

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
    tensorIndex = new int[graph.tensorCount()];
    java.util.Arrays.fill(tensorIndex, -1);
    for (Op op : ops) {
      for (MeshTensor t : op.outputs()) {
        tensorIndex[t.id()] = tensors.size();
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
    in = new int[n][];
    out = new int[n][];
    producer = new int[nt];
    work = new OpWork[n];
    workShape = new int[n];
    isVariable = new boolean[n];
    isAssign = new boolean[n];
    isAlias = new boolean[n];
    forwardable = new int[n][];
    for (int i = 0; i < n; i++) {
      Op op = ops.get(i);
      in[i] = op.inputs().stream().mapToInt(this::id).toArray();
      out[i] = op.outputs().stream().mapToInt(this::id).toArray();
      for (int t : out[i]) {
        producer[t] = i;
      }
      work[i] = OpWork.of(op);
      workShape[i] = work[i].shape() == null ? -1 : intern(work[i].shape()); // an einsum's union too
      isVariable[i] = op instanceof VariableOp;
      isAssign[i] = op instanceof AssignOp;
      isAlias[i] = op instanceof AfterOp;
      forwardable[i] = forwardable(op);
      if (op instanceof UnsplitDimOp along && along.dim() != null) {
        unsplittable.add(dim(along.dim()));
      }
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

  private static final int[] NONE = new int[0];

  private static int[] forwardable(Op op) {
    boolean elementwise = op instanceof UnaryOp || op instanceof BinaryOp || op instanceof SoftmaxOp
        || op instanceof EinsumOp e && e.union().equals(op.output().shape());
    if (!elementwise || op.outputs().size() != 1) {
      return NONE;
    }
    MeshTensor y = op.output();
    return java.util.stream.IntStream.range(0, op.inputs().size())
        .filter(k -> op.inputs().get(k).shape().equals(y.shape()) && op.inputs().get(k).dtype() == y.dtype())
        .toArray();
  }

  private static long gcd(long a, long b) {
    return b == 0 ? a : gcd(b, a % b);
  }

  int id(MeshTensor t) {
    int i = t.graph() == graph && t.id() < tensorIndex.length ? tensorIndex[t.id()] : -1;
    if (i < 0) {
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

  /** The interned id of {@code s}, or -1 when no tensor or einsum of the graph has it. */
  int shapeId(Shape s) {
    Integer i = shapeIndex.get(s);
    return i == null ? -1 : i;
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
}
