package dev.neomesh.data.cli;

import dev.neomesh.data.CheckDataset;
import dev.neomesh.data.DatasetConfig;
import dev.neomesh.data.DatasetConfigs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.kohsuke.args4j.Option;

/** {@code scripts/check_dataset}: checks the records of one or more dataset configs. */
public final class CheckDatasetMain {
  @Option(name = "--dataset_config", required = true, usage = "a dataset config .json (repeatable)")
  List<String> configs = new ArrayList<>();

  @Option(name = "--n_vocab", usage = "the model's vocabulary (default: the largest dataset n_vocab)")
  int nVocab = -1;

  @Option(name = "--base_dir", usage = "folder that relative paths in the configs are resolved against")
  String baseDir = ".";

  @Option(name = "--verbose", usage = "print stack traces")
  boolean verbose;

  public static void main(String[] args) {
    CheckDatasetMain m = new CheckDatasetMain();
    Cli.main("check_dataset", args, m, () -> {
      List<DatasetConfig> cs = new ArrayList<>();
      for (String c : m.configs) cs.add(DatasetConfigs.load(Path.of(c)));
      int n = m.nVocab > 0 ? m.nVocab : cs.stream().mapToInt(DatasetConfig::nVocab).max().orElseThrow();
      CheckDataset.Report r = CheckDataset.run(cs, n, Path.of(m.baseDir), System.out);
      r.throwIfFailed();
    });
  }
}
