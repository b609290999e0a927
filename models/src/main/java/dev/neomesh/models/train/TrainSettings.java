package dev.neomesh.models.train;

import dev.neomesh.data.DatasetEntry;
import dev.neomesh.mesh.LayoutRules;
import dev.neomesh.mesh.MeshShape;
import dev.neomesh.mesh.lower.Devices;
import java.nio.file.Path;
import java.util.List;

/**
 * Everything the {@link Trainer} reads from a model config and the command line, as plain values,
 * so the trainer can be driven (and tested) without a config file.
 *
 * @param modelPath the run folder: checkpoints, metrics.jsonl, TensorBoard events, predictions
 * @param baseDir folder that relative dataset paths resolve against (the repository root)
 * @param datasetConfigs folder of dataset configs ({@code configs/dataset_configs})
 * @param meshShape the mesh ({@code mesh_shape}) and {@code layout} its rules, parsed once when the config was read
 * @param logEvery steps between metric lines (GPT-Neo's {@code iterations})
 * @param stepsPerCheckpoint steps between checkpoints (and between evaluations)
 * @param devices the devices the mesh runs on ({@code --devices}, {@code --gpu_ids}, {@code --cluster}); null
 *     means {@code mesh_shape}'s count of virtual CPU devices of this process
 */
public record TrainSettings(Path modelPath, Path baseDir, Path datasetConfigs, List<DatasetEntry> datasets,
    MeshShape meshShape, LayoutRules layout, Devices devices, int nCtx, int nVocab, int trainBatchSize,
    int evalBatchSize, int predictBatchSize, long trainSteps, long evalSteps, long seed, int logEvery,
    long stepsPerCheckpoint, LearningRateSchedule schedule, OptimizerSettings optimizer,
    Integer tokensPerMbPerReplica, Integer predictMaxSteps, boolean progressBar) {

  public TrainSettings withTrainSteps(long steps) {
    return new TrainSettings(modelPath, baseDir, datasetConfigs, datasets, meshShape, layout, devices, nCtx, nVocab,
        trainBatchSize, evalBatchSize, predictBatchSize, steps, evalSteps, seed, logEvery, stepsPerCheckpoint,
        schedule, optimizer, tokensPerMbPerReplica, predictMaxSteps, progressBar);
  }

  public TrainSettings withMesh(MeshShape meshShape, LayoutRules layout) {
    return new TrainSettings(modelPath, baseDir, datasetConfigs, datasets, meshShape, layout, devices, nCtx, nVocab,
        trainBatchSize, evalBatchSize, predictBatchSize, trainSteps, evalSteps, seed, logEvery, stepsPerCheckpoint,
        schedule, optimizer, tokensPerMbPerReplica, predictMaxSteps, progressBar);
  }

  public TrainSettings withTokensPerMb(Integer tokens) {
    return new TrainSettings(modelPath, baseDir, datasetConfigs, datasets, meshShape, layout, devices, nCtx, nVocab,
        trainBatchSize, evalBatchSize, predictBatchSize, trainSteps, evalSteps, seed, logEvery, stepsPerCheckpoint,
        schedule, optimizer, tokens, predictMaxSteps, progressBar);
  }
}
