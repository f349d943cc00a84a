/**
 * The machine a benchmark ran on, in one line and as JSON (shared by npm run bench and
 * bench:loader), read from /proc/cpuinfo. The machine is drawn per session and hypervisors expose
 * different instruction sets under the same CPU name ("AMD EPYC" with and without AVX-512), so
 * the record keeps the family and model numbers and the flags that decide which kernels oneDNN
 * and ONNX Runtime run.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The instruction-set flags that change which kernels run, in the order they are printed. */
export const KERNEL_FLAGS = [
  'avx2',
  'fma',
  'avx512f',
  'avx512bw',
  'avx512_vnni',
  'avx512_bf16',
  'avx512_fp16',
  'amx_tile',
  'amx_bf16',
  'amx_int8',
] as const;

/** Server parts by vendor, family and model number (Intel's SDM, AMD's family/model tables). */
const CODENAMES: Record<string, string> = {
  'GenuineIntel 6 85': 'Skylake-SP / Cascade Lake',
  'GenuineIntel 6 106': 'Ice Lake-SP',
  'GenuineIntel 6 143': 'Sapphire Rapids',
  'GenuineIntel 6 207': 'Emerald Rapids',
  'GenuineIntel 6 173': 'Granite Rapids',
  'AuthenticAMD 23 49': 'Zen 2 (Rome)',
  'AuthenticAMD 25 1': 'Zen 3 (Milan)',
  'AuthenticAMD 25 17': 'Zen 4 (Genoa)',
  'AuthenticAMD 26 2': 'Zen 5 (Turin)',
};

export interface HostInfo {
  cpu: string;
  vendor: string | null;
  family: number | null;
  model: number | null;
  stepping: number | null;
  /** From the family and model numbers where known, else null. */
  codename: string | null;
  /** Which of KERNEL_FLAGS the CPU reports. */
  flags: string[];
  /** Running under a hypervisor (the `hypervisor` flag): the flags are what it exposes. */
  virtual: boolean;
  logicalCores: number;
  memoryBytes: number;
  node: string;
}

/** The host as /proc/cpuinfo says (its first processor); `cpuinfo` is for tests. */
export function hostInfo(cpuinfo = readCpuinfo()): HostInfo {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? '';
  const field = (name: string): string | null =>
    first.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? null;
  const num = (name: string): number | null => {
    const v = field(name);
    return v === null || !/^\d+$/.test(v) ? null : Number(v);
  };
  const present = new Set((field('flags') ?? '').split(/\s+/));
  const vendor = field('vendor_id');
  const [family, model] = [num('cpu family'), num('model')];
  return {
    cpu: field('model name') ?? os.cpus()[0]?.model ?? 'unknown CPU',
    vendor,
    family,
    model,
    stepping: num('stepping'),
    codename: CODENAMES[`${vendor} ${family} ${model}`] ?? null,
    flags: KERNEL_FLAGS.filter((f) => present.has(f)),
    virtual: present.has('hypervisor'),
    logicalCores: os.cpus().length,
    memoryBytes: os.totalmem(),
    node: process.version,
  };
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/**
 * One line: `Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 207 stepping 2: Emerald
 * Rapids, under a hypervisor), 2 logical cores, 24 GiB; ISA flags: avx2 fma ...; Node v20.20.2`.
 */
export function describeHost(h: HostInfo = hostInfo()): string {
  const ids =
    h.family === null
      ? null
      : `${h.vendor ?? '?'} family ${h.family} model ${h.model ?? '?'}${h.stepping === null ? '' : ` stepping ${h.stepping}`}`;
  const detail = [ids && h.codename ? `${ids}: ${h.codename}` : ids, h.virtual ? 'under a hypervisor' : null]
    .filter(Boolean)
    .join(', ');
  const flags = h.flags.length > 0 ? h.flags.join(' ') : 'none of avx2, avx512f, amx';
  return `${h.cpu}${detail ? ` (${detail})` : ''}, ${h.logicalCores} logical cores, ${(h.memoryBytes / 2 ** 30).toFixed(0)} GiB; ISA flags: ${flags}; Node ${h.node}`;
}

/**
 * A note when the run emulates a smaller host (scripts/check-avx2.sh): the variables that cap the
 * instruction set or load another addon, whose figures are then not this CPU's. Null when none is set.
 */
export function cappedNote(env: NodeJS.ProcessEnv = process.env): string | null {
  const set = ['CONVKIT_NATIVE_ADDON', 'ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY']
    .filter((name) => env[name])
    .map((name) => `${name}=${env[name]}`);
  return set.length === 0
    ? null
    : `emulating a smaller host (${set.join(', ')}): the FMA peak and ONNX Runtime (which picks its kernels by CPUID) are still this CPU's`;
}

/** A note when other processes were running as the benchmark started (figures may then be low and uneven). */
export function loadNote(): string | null {
  const load = os.loadavg()[0];
  return load > 0.5
    ? `the 1-minute load average was ${load.toFixed(2)} at the start: other processes were running, so figures may be low and uneven`
    : null;
}
