/**
 * The module path currently running, so ops deep inside a network can name the layer in their
 * errors without every call site passing it along. Module.call pushes and pops it.
 */
const stack: string[] = [];

export function currentLayer(): string | undefined {
  return stack.length > 0 ? stack[stack.length - 1] : undefined;
}

export function withLayer<T>(path: string, fn: () => T): T {
  stack.push(path);
  try {
    return fn();
  } finally {
    stack.pop();
  }
}
