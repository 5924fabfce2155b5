// Resampling to 16 kHz in the browser: a streaming windowed-sinc (Kaiser) low-pass resampler. The
// microphone runs at the device's rate (44.1 or 48 kHz); the VAD and the server want 16 kHz. Dropping
// samples (naive decimation) would fold 8-24 kHz into the speech band; this filter passes up to about
// 7.2 kHz and is down more than 70 dB from 8 kHz (the new Nyquist) on.
export const OUT_RATE_HZ = 16000;
const CUTOFF_HZ = 7600; // -6 dB point
const HALF_WIDTH_S = 0.0025; // filter half length: 2.5 ms of input (240 taps at 48 kHz)
const KAISER_BETA = 8.0;
const TABLE_STEPS = 512; // kernel samples per input sample (linear interpolation between them)

function besselI0(x) {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/** Float32 (or int16) samples at `inRate` in, int16 samples at 16 kHz out, any chunk sizes. */
export class Resampler {
  constructor(inRate) {
    this.inRate = inRate;
    this.step = inRate / OUT_RATE_HZ; // input samples per output sample
    this.passthrough = inRate === OUT_RATE_HZ;
    this.halfWidth = Math.ceil(HALF_WIDTH_S * inRate);
    const fc = Math.min(CUTOFF_HZ, OUT_RATE_HZ / 2) / inRate; // cycles per input sample
    const n = this.halfWidth * TABLE_STEPS;
    this.table = new Float64Array(n + 2);
    const norm = besselI0(KAISER_BETA);
    for (let i = 0; i <= n; i++) {
      const t = i / TABLE_STEPS;
      const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
      const r = t / this.halfWidth;
      this.table[i] = sinc * (besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r))) / norm);
    }
    this.history = new Float64Array(0); // input samples from absolute index `historyStart`
    this.historyStart = 0;
    this.received = 0; // input samples so far
    this.produced = 0; // output samples so far
  }

  kernel(t) {
    const x = Math.abs(t) * TABLE_STEPS;
    const i = Math.floor(x);
    if (i >= this.halfWidth * TABLE_STEPS) return 0;
    const f = x - i;
    return this.table[i] * (1 - f) + this.table[i + 1] * f;
  }

  /** Add samples (floats in [-1, 1] or int16 values); return the 16 kHz int16 samples now complete. */
  push(samples, scale = 32768) {
    const grown = new Float64Array(this.history.length + samples.length);
    grown.set(this.history);
    for (let i = 0; i < samples.length; i++) grown[this.history.length + i] = samples[i] * scale;
    this.history = grown;
    this.received += samples.length;
    return this.run(this.received - (this.passthrough ? 0 : this.halfWidth));
  }

  /** End of input: the remaining outputs, with silence after the last sample. */
  flush() {
    return this.run(this.received);
  }

  run(available) {
    const out = [];
    for (;;) {
      const t = this.produced * this.step; // input time of the next output sample
      if (t >= available || (t >= this.received)) break;
      let acc;
      if (this.passthrough) {
        acc = this.history[t - this.historyStart];
      } else {
        const lo = Math.max(Math.floor(t) - this.halfWidth + 1, 0);
        const hi = Math.min(Math.floor(t) + this.halfWidth, this.received - 1);
        acc = 0;
        for (let i = lo; i <= hi; i++) acc += this.history[i - this.historyStart] * this.kernel(t - i);
      }
      out.push(Math.max(-32768, Math.min(32767, Math.round(acc))));
      this.produced++;
    }
    const keepFrom = Math.max(Math.floor(this.produced * this.step) - this.halfWidth, this.historyStart);
    if (keepFrom > this.historyStart) {
      this.history = this.history.slice(keepFrom - this.historyStart);
      this.historyStart = keepFrom;
    }
    return Int16Array.from(out);
  }
}
