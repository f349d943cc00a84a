/** A terminal progress bar with rate and ETA (cli-progress), quiet when output is not a terminal. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields?: Record<string, string>): void;
  stop(): void;
}

export function progressBar(total: number, label: string, unit: string): Progress {
  if (!process.stderr.isTTY) {
    // Logs and CI get a line every ~10% instead of a redrawn bar.
    let lastTenth = -1;
    const started = Date.now();
    return {
      update(done, fields = {}) {
        const tenth = Math.floor((10 * done) / total);
        if (tenth === lastTenth && done !== total) return;
        lastTenth = tenth;
        const secs = (Date.now() - started) / 1000;
        const rate = secs > 0 ? (done / secs).toFixed(1) : '-';
        const eta = done > 0 && done < total ? `  ETA ${Math.round(((total - done) * secs) / done)} s` : '';
        const extra = Object.entries(fields)
          .map(([k, v]) => `${k} ${v}`)
          .join('  ');
        process.stderr.write(`${label} ${done}/${total} ${unit}  ${rate} ${unit}/s${eta}  ${extra}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted} | {info}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  bar.start(total, 0, { rate: '-', info: '' });
  return {
    update(done, fields = {}) {
      const secs = (Date.now() - started) / 1000;
      const info = Object.entries(fields)
        .map(([k, v]) => `${k} ${v}`)
        .join('  ');
      bar.update(done, { rate: secs > 0 ? (done / secs).toFixed(1) : '-', info });
    },
    stop() {
      bar.stop();
    },
  };
}
