/**
 * `recordTrainingStep(model, optimizer)`: a training step (zeroGrad, forward, loss, backward,
 * SGD, Adam or AdamW step) recorded once and replayed with one native call per batch, as
 * `nn.recordInference` does for inference. Built op by op, a step costs the main thread 10-25 ms
 * of JavaScript, and on a 2-core machine that time comes out of the kernels' (docs/native-backend.md,
 * "Recorded training steps"): ResNet-20 (batch 128) ran 101 ms a step built op by op and 90 ms replayed.
 *
 * The first steps run op by op until no step makes new kernel plans (the convolutions are tuned
 * on a weight's second use); the next one is recorded as it runs. A replay updates the
 * parameters, the optimiser's state and the batch norms' running statistics in place, exactly as
 * the step op by op would (the same kernels in the same order), but leaves no `.grad`. Each
 * replay passes the optimiser's scalars anew (a schedule's learning rate, Adam's bias
 * corrections) and counts its steps. A change of shape, of the thread count, of which state
 * tensors the optimiser keeps (momentum switched on or off), or of the storage or array of a
 * parameter, buffer or state tensor (loadStateDict, assign) is noticed at the next step, which
 * records again. Other backends and optimisers, and steps that read values in JavaScript midway
 * (dropout's masks, a cumulative-average batch norm, reference fallbacks) run op by op;
 * `replaying` says which and why.
 */
import { nativeRuntime } from '../backend/native/index.js';
import { NativeStorage } from '../backend/native/runtime.js';
import { adamExecScalars, sgdExecScalars } from '../backend/native/optim.js';
import { NativeStepProgram } from '../backend/native/step-recording.js';
import { ArgumentError } from '../core/errors.js';
import { scope } from '../core/scope.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import type { TensorModule } from '../nn/module.js';
import { crossEntropy } from '../ops/cross-entropy.js';
import { wrap } from '../ops/util.js';
import type { Optimizer } from './optimizer.js';
import { Adam, AdamW } from './adam.js';
import { SGD } from './sgd.js';

/** What one step gives: the loss (a scalar) and the model's output, both detached. */
export interface StepResult {
  loss: Tensor;
  logits: Tensor;
}

/** A training step that replays a recording where it can (see recordTrainingStep). */
export interface RecordedTrainingStep {
  /** One step on a batch (x, class indices); the caller disposes what it returns. */
  step(x: Tensor, labels: Int32Array): StepResult;
  /** true while steps replay a recording; otherwise why they run op by op (the last step's case). */
  readonly replaying: true | string;
  dispose(): void;
}

export interface RecordStepOptions {
  /** The loss of the model's output (default cross-entropy with mean reduction). */
  loss?: (logits: Tensor, labels: Int32Array) => Tensor;
}

/** The step op by op: zeroGrad, forward, loss, backward, step (what a recording replays). */
export function stepOpByOp(
  model: TensorModule,
  optimizer: Optimizer,
  x: Tensor,
  labels: Int32Array,
  lossOf: (logits: Tensor, labels: Int32Array) => Tensor = (logits, l) => crossEntropy(logits, l),
): StepResult {
  return scope(() => {
    optimizer.zeroGrad();
    const logits = model.call(x);
    const loss = lossOf(logits, labels);
    loss.backward();
    optimizer.step();
    return { loss: loss.detach(), logits: logits.detach() };
  });
}

/** One input shape's recording, or the steps that lead to it. */
interface ShapeEntry {
  program: NativeStepProgram | null;
  /** Steps in a row at this shape that made no kernel plan (it records after one). */
  steady: number;
  /** The model's output shape at this input shape (its last axis: the classes). */
  logits: readonly number[];
  /** The parameters the recorded step updates (those with a gradient): a replay counts their steps. */
  updates: readonly Tensor[];
}

/** A model that is collected takes its recordings' native programs and memory with it. */
const releaseWhenCollected = new FinalizationRegistry<Map<string, ShapeEntry>>((shapes) => {
  for (const entry of shapes.values()) entry.program?.dispose();
});

export function recordTrainingStep(
  model: TensorModule,
  optimizer: Optimizer,
  opts: RecordStepOptions = {},
): RecordedTrainingStep {
  const lossOf = opts.loss ?? ((logits: Tensor, labels: Int32Array) => crossEntropy(logits, labels));
  const opByOp = (x: Tensor, labels: Int32Array): StepResult => stepOpByOp(model, optimizer, x, labels, lossOf);
  const named = [...model.namedParameters(), ...model.namedBuffers()];
  const tensors = named.map(([, t]) => t);
  // What every recording holds for; a change drops them all (the shape picks among them).
  const stateOf = (): string => JSON.stringify([optimizer.recordingKey(), nativeRuntime().getThreads()]);
  // What a recording reads and writes in place: the storages of the parameters, buffers and
  // optimiser state, and the arrays that hold them (a storage may move to another array). Tensor
  // i of `named` comes first, its storage at 2i.
  const holdersOf = (): unknown[] => {
    const state = optimizer.paramGroups.flatMap((g) =>
      g.params.flatMap((p) => [...(optimizer.stateOf(p)?.buffers.values() ?? [])]),
    );
    return [...tensors, ...state].flatMap((t) => [
      t.storage,
      t.storage instanceof NativeStorage ? t.storage.currentArray : null,
    ]);
  };
  const sameHolders = (a: readonly unknown[], b: readonly unknown[]): boolean =>
    a.length === b.length && a.every((h, i) => h === b[i]);
  let state = '';
  let holders: readonly unknown[] = [];
  const shapes = new Map<string, ShapeEntry>();
  releaseWhenCollected.register(model, shapes);
  let refusal: string | null = null; // why steps cannot replay at all
  let replaying: true | string = 'not recorded yet';

  const why = (x: Tensor): string | null => {
    if (refusal !== null) return refusal;
    if (x.backend.name !== 'native') return `the '${x.backend.name}' backend runs steps op by op`;
    if (!(optimizer instanceof SGD || optimizer instanceof Adam || optimizer instanceof AdamW))
      return `only SGD, Adam and AdamW steps are recorded, not ${optimizer.constructor.name}'s`;
    if (!model.training) return 'the model is in eval mode';
    return null;
  };

  const dropAll = (): void => {
    for (const entry of shapes.values()) entry.program?.dispose();
    shapes.clear();
  };

  const replay = (entry: ShapeEntry, p: NativeStepProgram, x: Tensor, labels: Int32Array): StepResult => {
    if (labels.length !== p.batchTargets)
      throw new ArgumentError(
        'trainingStep',
        `expected ${p.batchTargets} labels (one per image), got ${labels.length}`,
      );
    // The loss kernels trust their targets: the op-by-op step checks them, so does a replay.
    const classes = entry.logits[entry.logits.length - 1];
    for (const label of labels)
      if (!(label >= 0 && label < classes))
        throw new ArgumentError('trainingStep', `label ${label} is out of range for ${classes} classes`);
    const scalars = optimizer
      .replayStep(entry.updates)
      .map((u) => (u.kernel === 'sgdStep' ? sgdExecScalars(u.args) : adamExecScalars(u.args)));
    const [loss, logits] = p.run(x.storage, Float32Array.from(labels), scalars);
    // The step moved parameters and buffers in place: count it as optimizer.step() and batch norm
    // do, and drop their cached layout conversions (an eval pass's weights), as their kernels do.
    for (const t of tensors) {
      t.storage.version++;
      if (t.storage instanceof NativeStorage) t.storage.invalidate();
    }
    return { loss: wrap(loss, [], x.backend), logits: wrap(logits, entry.logits, x.backend) };
  };

  const record = (entry: ShapeEntry, x: Tensor, labels: Int32Array): StepResult => {
    let result: StepResult | null = null;
    let updates: Tensor[] = [];
    const recorded = NativeStepProgram.record(nativeRuntime(), x.storage as NativeStorage, x.shape, () => {
      result = opByOp(x, labels);
      updates = optimizer.paramGroups.flatMap((g) => g.params.filter((p) => p.grad !== null && !p.grad.disposed));
      return [result.loss.storage, result.logits.storage];
    });
    const done = result as StepResult | null;
    if (done === null) throw new Error('recordTrainingStep: the step returned nothing');
    if ('reason' in recorded) {
      refusal = recorded.reason;
      replaying = refusal;
      return done;
    }
    optimizer.zeroGrad(); // a replay leaves no gradients: neither does the recorded step
    if (recorded.optimizerSteps !== updates.length) {
      recorded.dispose();
      refusal = `the optimiser queued ${recorded.optimizerSteps} updates for ${updates.length} parameters with gradients`;
      replaying = refusal;
      return done;
    }
    if (!sameHolders(holdersOf(), holders)) {
      // A parameter moved to another array (a first step in a layout): replays would write the old one.
      recorded.dispose();
      entry.steady = 0;
      replaying = 'not recorded yet (a parameter or state buffer moved to another array)';
      return done;
    }
    entry.updates = updates;
    entry.program = recorded;
    nativeRuntime().releasePooled(); // replays take nothing from the pool
    replaying = true;
    return done;
  };

  return {
    step(x: Tensor, labels: Int32Array): StepResult {
      const reason = why(x);
      if (reason !== null) {
        dropAll();
        replaying = reason;
        return opByOp(x, labels);
      }
      const now = stateOf();
      const current = holdersOf();
      if (now !== state || !sameHolders(current, holders)) {
        dropAll();
        [state, holders] = [now, current];
      }
      const shape = formatShape(x.shape);
      let entry = shapes.get(shape);
      if (entry === undefined) {
        entry = { program: null, steady: 0, logits: [], updates: [] };
        shapes.set(shape, entry);
      }
      if (entry.program !== null) return replay(entry, entry.program, x, labels);
      if (entry.steady >= 1) return record(entry, x, labels);
      const rt = nativeRuntime();
      const plans = rt.planStats().native.plans;
      const result = opByOp(x, labels);
      entry.steady = rt.planStats().native.plans === plans ? entry.steady + 1 : 0;
      entry.logits = result.logits.shape;
      replaying = 'not recorded yet (the kernels are still being chosen)';
      // A step that gives a parameter or buffer a new storage (assign) cannot be replayed.
      const replaced = named.find(([, t], i) => t.storage !== holders[2 * i]);
      if (replaced) refusal = `each step gives ${replaced[0]} a new storage (an assign), which a replay would not`;
      return result;
    },
    get replaying() {
      return replaying;
    },
    dispose: dropAll,
  };
}
