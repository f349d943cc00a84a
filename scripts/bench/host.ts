/** The machine a benchmark ran on, in one line and as JSON (shared by npm run bench and bench:loader). */
import os from 'node:os';

export interface HostInfo {
  cpu: string;
  logicalCores: number;
  memoryBytes: number;
  node: string;
}

export function hostInfo(): HostInfo {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    logicalCores: os.cpus().length,
    memoryBytes: os.totalmem(),
    node: process.version,
  };
}

/** `AMD EPYC 7B13, 2 logical cores, 8 GiB; Node v20.19.0`. */
export function describeHost(h: HostInfo = hostInfo()): string {
  return `${h.cpu}, ${h.logicalCores} logical cores, ${(h.memoryBytes / 2 ** 30).toFixed(0)} GiB; Node ${h.node}`;
}

/** A note when other processes were running as the benchmark started (figures may then be low and uneven). */
export function loadNote(): string | null {
  const load = os.loadavg()[0];
  return load > 0.5
    ? `the 1-minute load average was ${load.toFixed(2)} at the start: other processes were running, so figures may be low and uneven`
    : null;
}
