// The JS VAD against the Python library: the same WAV, the same options, the same clips (sample
// positions, voiced spans, stats, the samples themselves). tests/web/test_js_vad.py runs this file
// with ASR_VAD_CASES naming a JSON of the clips vad.Segmenter cut; without it those cases skip and
// only the resampler's checks run (`npm test`).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createWebRtcDetector } from "../src/fvad.js";
import { Resampler } from "../src/resample.js";
import { SileroDetector } from "../src/silero.js";
import { EnergyDetector, Segmenter, vadOptions } from "../src/segmenter.js";

/** int16 mono samples of a 16 kHz s16le WAV (the data chunk, whatever chunks come before it). */
function readWav(path) {
  const buf = readFileSync(path);
  assert.equal(buf.toString("ascii", 0, 4), "RIFF");
  let at = 12;
  let format = null;
  while (at + 8 <= buf.length) {
    const id = buf.toString("ascii", at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    if (id === "fmt ") format = { channels: buf.readUInt16LE(at + 10), rate: buf.readUInt32LE(at + 12), bits: buf.readUInt16LE(at + 22) };
    if (id === "data") {
      assert.deepEqual(format, { channels: 1, rate: 16000, bits: 16 }, `${path}: want 16 kHz mono s16le`);
      const data = buf.subarray(at + 8, at + 8 + size);
      return new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length - (data.length % 2)));
    }
    at += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

async function detectorFor(options, sileroModel) {
  if (options.detector === "energy") return new EnergyDetector(options.energyThresholdDbfs);
  if (options.detector === "silero") {
    const bytes = readFileSync(sileroModel);
    return SileroDetector.create({ threshold: options.sileroThreshold, keepProbabilities: true,
      model: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) });
  }
  return createWebRtcDetector(options.aggressiveness, (16000 * options.frameMs) / 1000);
}

function sha256(pcm) {
  return createHash("sha256").update(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength)).digest("hex");
}

async function cut(pcm, options, chunk, sileroModel) {
  const detector = await detectorFor(options, sileroModel);
  const segmenter = new Segmenter(options, detector);
  const clips = [];
  for (let at = 0; at < pcm.length; at += chunk) {
    const part = pcm.subarray(at, at + chunk);
    if (detector.feed) await detector.feed(part); // Silero: the model runs first, asynchronously (src/silero.js)
    clips.push(...segmenter.push(part));
  }
  clips.push(...segmenter.flush());
  clips.probabilities = detector.probabilities;
  return clips;
}

const casesFile = process.env.ASR_VAD_CASES;
const cases = casesFile ? JSON.parse(readFileSync(casesFile, "utf8")) : [];

test("the JS VAD cuts the clips vad.Segmenter cuts", { skip: casesFile ? false : "set ASR_VAD_CASES (pytest tests/web/test_js_vad.py does)" }, async (t) => {
  for (const c of cases) {
    await t.test(`${c.name}`, async () => {
      const pcm = readWav(c.wav);
      const options = vadOptions(c.options);
      for (const chunk of [pcm.length, 777]) { // whole, and in odd chunks: the same clips
        const clips = await cut(pcm, options, chunk, c.silero_model);
        if (c.probabilities) { // Silero: onnxruntime-web here, onnxruntime in Python; the same model and frames
          assert.equal(clips.probabilities.length, c.probabilities.length, "Silero frames");
          const worst = Math.max(...c.probabilities.map((p, i) => Math.abs(p - clips.probabilities[i])));
          assert.ok(worst < 1e-4, `Silero probabilities differ from Python's by up to ${worst}`);
        }
        assert.equal(clips.length, c.clips.length, `clip count (chunk ${chunk})`);
        clips.forEach((clip, i) => {
          const want = c.clips[i];
          assert.deepEqual([clip.index, clip.startSample, clip.endSample, clip.speechStartS, clip.speechEndS],
            [want.index, want.start_sample, want.end_sample, want.speech_start_s, want.speech_end_s], `clip ${i}`);
          for (const [js, py] of [["speechRatio", "speech_ratio"], ["prePaddingMs", "pre_padding_ms"],
            ["postPaddingMs", "post_padding_ms"], ["gainDb", "gain_db"], ["rmsDbfs", "rms_dbfs"], ["peakDbfs", "peak_dbfs"]]) {
            assert.ok(Math.abs(clip.stats[js] - want.stats[py]) < 1e-9, `clip ${i} ${js}: ${clip.stats[js]} vs ${want.stats[py]}`);
          }
          assert.equal(clip.stats.split, want.stats.split, `clip ${i} split`);
          assert.equal(sha256(clip.pcm), want.pcm_sha256, `clip ${i} samples`);
        });
      }
    });
  }
});

test("a Silero detector reset for a new stream decides as a fresh one", { skip: cases.some((c) => c.silero_model) ? false : "needs a Silero case (pytest tests/web/test_js_vad.py)" }, async () => {
  const c = cases.find((k) => k.silero_model);
  const pcm = readWav(c.wav);
  const bytes = readFileSync(c.silero_model);
  const detector = await SileroDetector.create({ keepProbabilities: true,
    model: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) });
  const run = async () => {
    for (let at = 0; at < pcm.length; at += 1000) await detector.feed(pcm.subarray(at, at + 1000));
    return [...detector.probabilities];
  };
  const first = await run();
  await detector.feed(pcm.subarray(0, 700)); // a stream stopped mid-frame
  detector.reset();
  assert.deepEqual(await run(), first);
});

test("options are validated as VadOptions validates them", () => {
  assert.throws(() => vadOptions({ frameMs: 25 }), /frame_ms/);
  assert.throws(() => vadOptions({ aggressiveness: 4 }), /aggressiveness/);
  assert.throws(() => vadOptions({ maxClipS: 0.5 }), /max_clip_s/);
  assert.throws(() => vadOptions({ detector: "silero" }), /frame_ms must be 32 with detector 'silero'/);
  assert.throws(() => vadOptions({ detector: "silero", frameMs: 32, sileroThreshold: 0.99 }), /silero_threshold/);
  assert.equal(vadOptions({ detector: "silero", frameMs: 32 }).sileroThreshold, 0.5);
  assert.equal(vadOptions().maxClipS, 20);
});

function sine(rate, hz, seconds, amplitude = 0.5) {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / rate);
  return out;
}

function rms(samples, from, to) {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / (to - from));
}

function resample(rate, input, chunk) {
  const r = new Resampler(rate);
  const parts = [];
  for (let at = 0; at < input.length; at += chunk) parts.push(r.push(input.subarray(at, at + chunk)));
  parts.push(r.flush());
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

for (const rate of [48000, 44100]) {
  test(`resampling ${rate} Hz to 16 kHz keeps speech and removes what would fold back`, () => {
    const speech = resample(rate, sine(rate, 1000, 1), 512);
    assert.equal(speech.length, 16000);
    const gainDb = 20 * Math.log10(rms(speech, 1000, 15000) / (0.5 * 32768 / Math.SQRT2));
    assert.ok(Math.abs(gainDb) < 0.1, `1 kHz passes: ${gainDb.toFixed(3)} dB`);
    const alias = resample(rate, sine(rate, 12000, 1), 512); // would fold to 4 kHz when decimated naively
    const leakDb = 20 * Math.log10(rms(alias, 1000, 15000) / (0.5 * 32768 / Math.SQRT2) + 1e-12);
    assert.ok(leakDb < -60, `12 kHz is stopped: ${leakDb.toFixed(1)} dB`);
    assert.deepEqual(resample(rate, sine(rate, 440, 0.5), 100), resample(rate, sine(rate, 440, 0.5), 4096),
      "chunking does not change the output");
  });
}

test("16 kHz input passes through sample for sample", () => {
  const input = Int16Array.from({ length: 1000 }, (_, i) => (i * 37) % 2000 - 1000);
  assert.deepEqual(Array.from(resample(16000, Float32Array.from(input, (x) => x / 32768), 333)), Array.from(input));
});
