/** Weight files: safetensors and PyTorch .pth reading and writing, loading a file into a module; ONNX export and import. */
export {
  readSafetensors,
  readSafetensorsHeader,
  SAFETENSORS_DTYPE_SIZES,
  MAX_HEADER_BYTES,
  type SafetensorsDType,
  type SafetensorsEntry,
  type SafetensorsHeader,
  type SafetensorsContents,
  type ReadSafetensorsOptions,
} from './safetensors.js';
export {
  writeSafetensors,
  encodeSafetensors,
  type TensorSource,
  type EncodeSafetensorsOptions,
  type WriteSafetensorsOptions,
} from './safetensors-write.js';
export {
  halfToNumber,
  bfloat16ToNumber,
  numberToHalf,
  numberToBfloat16,
  WEIGHT_DTYPES,
  type WeightDType,
} from './elements.js';
export {
  loadWeights,
  detectWeightsFormat,
  KEY_PREFIXES,
  type LoadWeightsResult,
  type WeightsFormat,
} from './load-weights.js';
export {
  readPth,
  openPth,
  findStateDict,
  ALLOWED_GLOBALS,
  PTH_STORAGES,
  STATE_DICT_KEYS,
  type PthDType,
  type PthEntry,
  type PthCheckpoint,
  type PthContents,
  type ReadPthOptions,
} from './pth.js';
export { writePth, encodePth, type WritePthOptions } from './pth-write.js';
export {
  exportOnnx,
  writeOnnx,
  ONNX_INPUT,
  ONNX_OUTPUT,
  type OnnxExportOptions,
} from './onnx-export.js';
export { decodeOnnxModel, type OnnxModel } from './onnx-proto.js';
export {
  importOnnx,
  readOnnxGraph,
  onnxWeights,
  OnnxGraphModule,
  type ImportOnnxOptions,
} from './onnx-import.js';
export {
  parseOnnx,
  ONNX_IMPORT_OPS,
  ONNX_IMPORT_OPSETS,
  type OnnxGraph,
  type OnnxGraphInput,
  type InitializerRole,
} from './onnx-graph.js';
