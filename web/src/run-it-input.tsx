/**
 * Where the "Run it" view's image comes from: a test sample of the run's data (the server's
 * samples route), a drawing on a canvas, or an image file decoded in the page (never uploaded).
 * Each gives CHW pixels in [0, 1] at the model's input shape.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { RunConfig } from './engine.js';
import { fileToInput, imageToInput } from './engine-image.js';
import { paint } from './run-it-maps.js';
import { useJson } from './runs.js';

export interface PickedInput {
  pixels: Float32Array;
  /** Where it came from, in words: "test sample 3 (Trouser)", "drawing", "shirt.png". */
  source: string;
  /** The sample's true class, when known. */
  label?: number;
}

interface Samples {
  samples: { index: number; label: number; class: string; pixels: number[] }[];
}

/** The model's input drawn at one canvas pixel per value, scaled up by CSS. */
export function InputPreview({
  pixels,
  shape,
  label,
  big = false,
}: {
  pixels: Float32Array;
  shape: RunConfig['input'];
  label: string;
  big?: boolean;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current) paint(ref.current, pixels, shape, 0, [0, 1], shape[0] === 3);
  }, [pixels, shape]);
  return <canvas ref={ref} class={big ? 'preview big' : 'preview thumb'} role="img" aria-label={label} />;
}

function SamplePicker({ run, config, onPick }: { run: string; config: RunConfig; onPick: (p: PickedInput) => void }) {
  const samples = useJson<Samples>(`api/runs/${encodeURIComponent(run)}/samples?count=8`);
  if (samples === null) return <p>loading test samples…</p>;
  if (typeof samples === 'string') return <p role="alert">test samples: {samples}</p>;
  return (
    <ul class="samples" data-testid="samples">
      {samples.samples.map((s) => {
        const pixels = Float32Array.from(s.pixels);
        return (
          <li key={s.index}>
            <button
              type="button"
              data-testid="sample"
              data-index={s.index}
              onClick={() => onPick({ pixels, source: `test sample ${s.index} (${s.class})`, label: s.label })}
            >
              <InputPreview pixels={pixels} shape={config.input} label={`test sample ${s.index}`} />
              <span>{s.class}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** Side of the drawing canvas in CSS pixels; it is scaled down to the model's input. */
const PAD = 224;

function DrawingPad({ config, onPick }: { config: RunConfig; onPick: (p: PickedInput) => void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const clear = (): void => {
    const ctx = ref.current?.getContext('2d');
    if (!ctx) return;
    ctx.fillStyle = 'black';
    ctx.fillRect(0, 0, PAD, PAD);
  };
  useEffect(clear, []);
  const stroke = (e: PointerEvent, start: boolean): void => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx || (!drawing.current && !start)) return;
    const r = canvas.getBoundingClientRect();
    const [x, y] = [((e.clientX - r.left) / r.width) * PAD, ((e.clientY - r.top) / r.height) * PAD];
    ctx.strokeStyle = 'white';
    ctx.lineWidth = PAD / 12;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    if (start) {
      ctx.beginPath();
      ctx.moveTo(x, y);
    }
    ctx.lineTo(x, y);
    ctx.stroke();
    drawing.current = true;
  };
  const use = (): void => {
    if (ref.current) onPick({ pixels: imageToInput(ref.current, config.input), source: 'drawing' });
  };
  return (
    <div class="pad">
      <canvas
        ref={ref}
        width={PAD}
        height={PAD}
        role="img"
        aria-label="drawing pad: draw with the mouse or a finger"
        data-testid="pad"
        onPointerDown={(e) => stroke(e, true)}
        onPointerMove={(e) => stroke(e, false)}
        onPointerUp={() => {
          drawing.current = false;
          use();
        }}
        onPointerLeave={() => {
          if (drawing.current) use();
          drawing.current = false;
        }}
      />
      <button type="button" onClick={clear}>
        clear
      </button>
    </div>
  );
}

function FilePicker({ config, onPick }: { config: RunConfig; onPick: (p: PickedInput) => void }) {
  const [error, setError] = useState<string | null>(null);
  const pick = async (e: Event): Promise<void> => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (!file) return;
    try {
      setError(null);
      onPick({ pixels: await fileToInput(file, config.input), source: file.name });
    } catch (err) {
      setError(`${file.name}: ${(err as Error).message}`);
    }
  };
  return (
    <p>
      <label>
        an image file (decoded here, not uploaded){' '}
        <input type="file" accept="image/*" data-testid="file" onChange={(e) => void pick(e)} />
      </label>
      {error ? <span role="alert"> {error}</span> : null}
    </p>
  );
}

export function InputChooser(props: { run: string; config: RunConfig; onPick: (p: PickedInput) => void }) {
  return (
    <div class="inputs">
      <div>
        <h3>A test sample of {props.config.data}</h3>
        <SamplePicker {...props} />
      </div>
      <div>
        <h3>Draw</h3>
        <DrawingPad {...props} />
      </div>
      <div>
        <h3>Or a file</h3>
        <FilePicker {...props} />
      </div>
    </div>
  );
}
