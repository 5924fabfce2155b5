// The client VAD's segmenter, ported line for line from vad/_segmenter.py: the same options, defaults,
// validation and state machine, so that the browser cuts the same clips as `vad.Segmenter` on the same
// 16 kHz audio (web/test/segmenter.test.js checks it against clips the Python library cut).
//
// The algorithm is documented in vad/__init__.py. In short: frames of frame_ms at 16 kHz from sample 0,
// one voiced/unvoiced decision each; a voiced frame opens an utterance whose clip starts up to
// pre_padding_ms earlier (never reaching into earlier speech); min_silence_ms of unvoiced frames ends it;
// the clip ends post_padding_ms after the last voiced frame (or at the next speech, or the stream end);
// fewer than min_speech_ms of voiced frames drops it; past max_clip_s it is split at the quietest frame
// of the last second, never dropped. Positions are absolute sample indices of the 16 kHz stream.

export const SAMPLE_RATE_HZ = 16000;
export const SPLIT_SEARCH_MS = 1000;
export const DBFS_FLOOR = -120.0;
const SAMPLES_PER_MS = 16;
const FULL_SCALE = 32768.0;
const INT16_MAX = 32767;

export const DEFAULT_OPTIONS = Object.freeze({
  detector: "webrtc",
  frameMs: 30,
  aggressiveness: 1,
  energyThresholdDbfs: -40.0,
  prePaddingMs: 300,
  postPaddingMs: 300,
  minSilenceMs: 400,
  minSpeechMs: 250,
  maxClipS: 20.0,
  sileroThreshold: 0.5,
  normalizeDbfs: null,
  maxGainDb: 30.0,
});

function checkInt(name, value, low, high) {
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new RangeError(`VadOptions.${name} must be an int in [${low}, ${high}]; got ${value}`);
  }
}

function checkFloat(name, value, low, high, why = "") {
  if (typeof value !== "number" || !Number.isFinite(value) || value < low || value > high) {
    throw new RangeError(`VadOptions.${name} must be a finite number in [${low}, ${high}]${why}; got ${value}`);
  }
}

/** Options with defaults filled in and every field validated as VadOptions.__post_init__ does. */
export function vadOptions(overrides = {}) {
  for (const key of Object.keys(overrides)) {
    if (!(key in DEFAULT_OPTIONS)) throw new RangeError(`unknown VAD option: ${key}`);
  }
  const o = { ...DEFAULT_OPTIONS, ...overrides };
  if (!["webrtc", "energy", "silero"].includes(o.detector)) {
    throw new RangeError(`VadOptions.detector must be one of 'energy', 'silero', 'webrtc'; got ${o.detector}`);
  }
  if (o.detector === "silero") {
    if (o.frameMs !== 32) {
      throw new RangeError(`VadOptions.frame_ms must be 32 with detector 'silero' (Silero decides on 512-sample windows); got ${o.frameMs}`);
    }
  } else if (![10, 20, 30].includes(o.frameMs)) {
    throw new RangeError(`VadOptions.frame_ms must be one of 10, 20, 30; got ${o.frameMs}`);
  }
  checkInt("aggressiveness", o.aggressiveness, 0, 3);
  checkFloat("energy_threshold_dbfs", o.energyThresholdDbfs, -100, 0);
  checkFloat("silero_threshold", o.sileroThreshold, 0.2, 0.95);
  checkInt("pre_padding_ms", o.prePaddingMs, 0, 10000);
  checkInt("post_padding_ms", o.postPaddingMs, 0, 10000);
  checkInt("min_silence_ms", o.minSilenceMs, 0, 10000);
  checkInt("min_speech_ms", o.minSpeechMs, 0, 60000);
  const floorS = (o.prePaddingMs + o.postPaddingMs + 2 * o.frameMs) / 1000;
  checkFloat("max_clip_s", o.maxClipS, floorS, 3600,
    " (the low end is (pre_padding_ms + post_padding_ms + 2 * frame_ms) / 1000)");
  if (o.normalizeDbfs !== null) checkFloat("normalize_dbfs", o.normalizeDbfs, -60, 0);
  checkFloat("max_gain_db", o.maxGainDb, 0, 60);
  return Object.freeze(o);
}

function toDbfs(amplitude) {
  if (amplitude <= 0) return DBFS_FLOOR;
  return Math.max(DBFS_FLOOR, 20 * Math.log10(amplitude / FULL_SCALE));
}

/** RMS level in dBFS (full scale 32768), DBFS_FLOOR when empty or silent: vad/_levels.py rms_dbfs. */
export function rmsDbfs(pcm) {
  if (pcm.length === 0) return DBFS_FLOOR;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  return toDbfs(Math.sqrt(sum / pcm.length));
}

/** Peak level in dBFS: vad/_levels.py peak_dbfs. */
export function peakDbfs(pcm) {
  let peak = 0;
  for (let i = 0; i < pcm.length; i++) peak = Math.max(peak, Math.abs(pcm[i]));
  return pcm.length === 0 ? DBFS_FLOOR : toDbfs(peak);
}

function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Scale to target_dbfs speech RMS, gain capped and never clipping: vad/_levels.py normalize. */
export function normalize(pcm, speechRmsDbfs, targetDbfs, maxGainDb) {
  let gainDb = Math.min(targetDbfs - speechRmsDbfs, maxGainDb);
  let peak = 0;
  for (let i = 0; i < pcm.length; i++) peak = Math.max(peak, Math.abs(pcm[i]));
  if (peak > 0) gainDb = Math.min(gainDb, 20 * Math.log10(INT16_MAX / peak));
  if (gainDb === 0 || peak === 0) return [pcm, 0];
  const scale = 10 ** (gainDb / 20);
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    out[i] = Math.min(INT16_MAX, Math.max(-INT16_MAX - 1, roundHalfEven(pcm[i] * scale)));
  }
  return [out, gainDb];
}

/** The "energy" detector: voiced when the frame's mean square reaches the threshold (vad/detectors). */
export class EnergyDetector {
  constructor(thresholdDbfs) {
    this.threshold = (FULL_SCALE * 10 ** (thresholdDbfs / 20)) ** 2;
  }

  classify(frame) {
    let sum = 0;
    for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
    return sum / Math.max(frame.length, 1) >= this.threshold;
  }
}

/** int16 samples [start, end) of a stream, addressed by absolute index (vad/_framing.py). */
class SampleBuffer {
  constructor() {
    this.data = new Int16Array(1 << 16);
    this.head = 0;
    this.size = 0;
    this.start = 0;
  }

  get end() {
    return this.start + this.size;
  }

  append(samples) {
    const n = samples.length;
    if (n === 0) return;
    if (this.head + this.size + n > this.data.length) {
      const needed = this.size + n;
      if (needed <= this.data.length / 2) {
        this.data.copyWithin(0, this.head, this.head + this.size);
      } else {
        let capacity = this.data.length;
        while (capacity < 2 * needed) capacity *= 2;
        const grown = new Int16Array(capacity);
        grown.set(this.data.subarray(this.head, this.head + this.size));
        this.data = grown;
      }
      this.head = 0;
    }
    this.data.set(samples, this.head + this.size);
    this.size += n;
  }

  view(start, stop) {
    if (!(this.start <= start && start <= stop && stop <= this.end)) {
      throw new RangeError(`samples [${start}, ${stop}) not held (buffer has [${this.start}, ${this.end}))`);
    }
    const offset = this.head - this.start;
    return this.data.subarray(offset + start, offset + stop);
  }

  discardBefore(position) {
    const drop = Math.min(Math.max(position - this.start, 0), this.size);
    this.head += drop;
    this.size -= drop;
    this.start += drop;
  }
}

/**
 * Cuts a 16 kHz mono int16 stream into utterance clips: push(Int16Array) returns the clips the new
 * audio completed, flush() the last one. `detector` has classify(frame: Int16Array) -> boolean.
 * Each clip: {index, pcm, startSample, endSample, startS, endS, speechStartS, speechEndS, stats:
 * {speechRatio, prePaddingMs, postPaddingMs, gainDb, split, rmsDbfs, peakDbfs}}.
 */
export class Segmenter {
  constructor(options, detector) {
    this.options = options;
    this.detector = detector;
    this.frame = (SAMPLE_RATE_HZ * options.frameMs) / 1000;
    this.pre = options.prePaddingMs * SAMPLES_PER_MS;
    this.post = options.postPaddingMs * SAMPLES_PER_MS;
    this.minSilence = options.minSilenceMs * SAMPLES_PER_MS;
    this.minSpeechFrames = Math.ceil(options.minSpeechMs / options.frameMs);
    this.maxClip = Math.round(options.maxClipS * SAMPLE_RATE_HZ);
    this.splitSearch = SPLIT_SEARCH_MS * SAMPLES_PER_MS;
    this.buffer = new SampleBuffer();
    this.flags = []; // voiced (1) / unvoiced (0) per classified frame from flagsStart
    this.flagsStart = 0;
    this.framesDone = 0;
    this.lastVoicedEnd = 0;
    this.utt = null;
    this.nextIndex = 0;
    this.finished = false;
  }

  /** Seconds of 16 kHz audio received so far. */
  get positionS() {
    return this.buffer.end / SAMPLE_RATE_HZ;
  }

  push(samples) {
    if (this.finished) throw new Error("push() after flush(): this stream has ended; create a new Segmenter");
    this.buffer.append(samples);
    const clips = [];
    this.runFrames(clips);
    this.discardDead();
    return clips;
  }

  flush() {
    if (this.finished) return [];
    this.finished = true;
    const clips = [];
    this.runFrames(clips);
    const utt = this.utt;
    if (utt !== null) {
      const streamEnd = this.buffer.end;
      const end = utt.ended
        ? Math.min(utt.endTarget, streamEnd)
        : Math.min(this.lastVoicedEnd + this.post, streamEnd, utt.clipStart + this.maxClip);
      this.close(utt, Math.max(end, utt.clipStart), clips);
    }
    return clips;
  }

  runFrames(out) {
    const frame = this.frame;
    while (this.buffer.end - this.framesDone * frame >= frame) {
      const k = this.framesDone;
      const voiced = this.detector.classify(this.buffer.view(k * frame, (k + 1) * frame));
      this.flags.push(voiced ? 1 : 0);
      if (voiced || this.utt !== null) this.step(k, voiced, out);
      this.framesDone = k + 1;
    }
  }

  step(k, isVoiced, out) {
    const start = k * this.frame;
    const end = start + this.frame;
    let utt = this.utt;
    if (utt !== null && !utt.ended && end - utt.clipStart > this.maxClip) utt = this.split(k, utt, out);
    if (isVoiced) {
      if (utt !== null && utt.ended) {
        this.close(utt, Math.min(utt.endTarget, start), out);
        utt = null;
      }
      if (utt === null) {
        const clipStart = Math.max(start - this.pre, this.lastVoicedEnd);
        utt = this.utt = { clipStart, firstVoiced: start, splitHead: false, ended: false, endTarget: 0 };
      } else if (utt.firstVoiced === null) {
        utt.firstVoiced = start;
      }
      this.lastVoicedEnd = end;
      return;
    }
    if (utt === null) return;
    if (!utt.ended && end - this.lastVoicedEnd >= this.minSilence) {
      utt.ended = true;
      const target = Math.min(this.lastVoicedEnd + this.post, utt.clipStart + this.maxClip);
      utt.endTarget = Math.max(target, utt.clipStart);
    }
    if (utt.ended && end >= utt.endTarget) this.close(utt, utt.endTarget, out);
  }

  split(k, utt, out) {
    const frame = this.frame;
    const limit = k * frame;
    let cut;
    if (utt.firstVoiced === null) {
      cut = limit;
    } else {
      const lo = Math.max(Math.floor(utt.firstVoiced / frame), Math.ceil((limit - this.splitSearch) / frame));
      cut = (lo + this.quietestFrame(lo, k) + 1) * frame;
    }
    this.emit(utt.clipStart, cut, utt.splitHead, true, out);
    let firstVoiced = null;
    for (let j = cut / frame; j < k; j++) {
      if (this.flag(j)) {
        firstVoiced = j * frame;
        break;
      }
    }
    this.utt = { clipStart: cut, firstVoiced, splitHead: true, ended: false, endTarget: 0 };
    return this.utt;
  }

  /** Offset from lo of the split frame in [lo, hi): unvoiced first, then least energy, then the latest. */
  quietestFrame(lo, hi) {
    let anyUnvoiced = false;
    for (let j = lo; j < hi; j++) if (!this.flag(j)) anyUnvoiced = true;
    let best = -1;
    let bestEnergy = Infinity;
    for (let j = lo; j < hi; j++) {
      if (anyUnvoiced && this.flag(j)) continue;
      const samples = this.buffer.view(j * this.frame, (j + 1) * this.frame);
      let energy = 0;
      for (let i = 0; i < samples.length; i++) energy += samples[i] * samples[i];
      if (energy <= bestEnergy) {
        bestEnergy = energy;
        best = j - lo;
      }
    }
    return best;
  }

  flag(j) {
    return this.flags[j - this.flagsStart] === 1;
  }

  close(utt, end, out) {
    this.utt = null;
    this.emit(utt.clipStart, end, utt.splitHead, false, out);
  }

  emit(start, end, splitHead, splitTail, out) {
    const frame = this.frame;
    const lo = Math.ceil(start / frame);
    const hi = Math.floor(end / frame);
    const voicedAt = [];
    for (let j = lo; j < hi; j++) if (this.flag(j)) voicedAt.push(j);
    const split = splitHead || splitTail;
    const nVoiced = voicedAt.length;
    if (nVoiced === 0 || (!split && nVoiced < this.minSpeechFrames)) return;
    let pcm = this.buffer.view(start, end).slice();
    let gainDb = 0;
    if (this.options.normalizeDbfs !== null) {
      const speech = new Int16Array(nVoiced * frame);
      voicedAt.forEach((j, n) => speech.set(pcm.subarray(j * frame - start, (j + 1) * frame - start), n * frame));
      [pcm, gainDb] = normalize(pcm, rmsDbfs(speech), this.options.normalizeDbfs, this.options.maxGainDb);
    }
    const speechStart = voicedAt[0] * frame;
    const speechEnd = (voicedAt[nVoiced - 1] + 1) * frame;
    out.push({
      index: this.nextIndex++,
      pcm,
      startSample: start,
      endSample: end,
      startS: start / SAMPLE_RATE_HZ,
      endS: end / SAMPLE_RATE_HZ,
      speechStartS: speechStart / SAMPLE_RATE_HZ,
      speechEndS: speechEnd / SAMPLE_RATE_HZ,
      stats: {
        speechRatio: (nVoiced * frame) / (end - start),
        prePaddingMs: (speechStart - start) / SAMPLES_PER_MS,
        postPaddingMs: (end - speechEnd) / SAMPLES_PER_MS,
        gainDb,
        split,
        rmsDbfs: rmsDbfs(pcm),
        peakDbfs: peakDbfs(pcm),
      },
    });
  }

  discardDead() {
    const position = this.framesDone * this.frame;
    // As vad/_segmenter.py: the next clip's pre-padding may reach behind an open utterance's start
    // (after a max_clip_s cut past the last voiced frame).
    let keep = Math.max(0, position - this.pre);
    if (this.utt !== null) keep = Math.min(keep, this.utt.clipStart);
    this.buffer.discardBefore(keep);
    const dead = Math.floor(keep / this.frame) - this.flagsStart;
    if (dead >= 4096) {
      this.flags.splice(0, dead);
      this.flagsStart += dead;
    }
  }
}
