// The "silero" detector in the browser: the Silero VAD v5 model through @ricky0123/vad-web's model
// wrapper (512-sample windows with the 64-sample context of the window before, the LSTM state carried)
// on onnxruntime-web's WASM backend, with the rule of vad/detectors/_silero.py: voiced when the speech
// probability reaches the threshold, or threshold - 0.15 right after a voiced frame. The segmenter is
// the same as for WebRTC (segmenter.js), with 32 ms frames.
//
// The model (silero_vad_v5.onnx, 2.3 MB) and onnxruntime-web's runtime (ort-wasm-simd-threaded.wasm,
// 14.8 MB) are not in the committed bundle: the server serves them at /app/silero/ once `asr silero
// install` has put them on its host (asr_service/webapp/_silero.py).
import { log } from "@ricky0123/vad-web/dist/logging.js";
import { Silero } from "@ricky0123/vad-web/dist/models/silero.js";
import * as ort from "onnxruntime-web/wasm";

log.debug = () => {}; // "Loading VAD..." on every load; errors and warnings still reach the console

export const SILERO_FRAME_SAMPLES = 512;
export const HYSTERESIS = 0.15;

/**
 * Model inference is asynchronous and the segmenter's classify() is not, so the page (and the node test)
 * calls `await detector.feed(samples)` with the 16 kHz samples before pushing the same samples into the
 * segmenter: feed() runs the model on every whole 512-sample frame they complete and queues the
 * decisions, which classify() then hands out in order. Frames start at sample 0 of the stream, as the
 * segmenter's do.
 */
export class SileroDetector {
  constructor(model, threshold) {
    this.model = model;
    this.threshold = threshold;
    this.pending = new Int16Array(0);
    this.decisions = [];
    this.voiced = false;
    this.probabilities = [];
  }

  /**
   * `wasmUrl`: the URL of ort-wasm-simd-threaded.wasm (the page: /app/silero/...; its JS glue is in the
   * bundle); `model`: the model's bytes or a URL to fetch them from.
   */
  static async create({ threshold = 0.5, wasmUrl, model, keepProbabilities = false }) {
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one window every 32 ms needs one core
    if (wasmUrl !== undefined) ort.env.wasm.wasmPaths = { wasm: wasmUrl };
    const fetchModel = typeof model === "string"
      ? async () => {
        const response = await fetch(model);
        if (!response.ok) throw new Error(`${model}: HTTP ${response.status}`);
        return response.arrayBuffer();
      }
      : async () => model;
    const detector = new SileroDetector(await Silero.new(ort, fetchModel), threshold);
    detector.keepProbabilities = keepProbabilities;
    return detector;
  }

  /** A new stream (the page's next Start): the model's state, the context and the frame grid from sample 0. */
  reset() {
    this.model.reset_state();
    this.pending = new Int16Array(0);
    this.decisions = [];
    this.voiced = false;
    this.probabilities = [];
  }

  async feed(samples) {
    let pending = samples;
    if (this.pending.length) {
      pending = new Int16Array(this.pending.length + samples.length);
      pending.set(this.pending);
      pending.set(samples, this.pending.length);
    }
    let at = 0;
    const frame = new Float32Array(SILERO_FRAME_SAMPLES);
    for (; at + SILERO_FRAME_SAMPLES <= pending.length; at += SILERO_FRAME_SAMPLES) {
      for (let i = 0; i < SILERO_FRAME_SAMPLES; i++) frame[i] = pending[at + i] / 32768;
      const { isSpeech } = await this.model.process(frame);
      if (this.keepProbabilities) this.probabilities.push(isSpeech);
      this.voiced = isSpeech >= (this.voiced ? this.threshold - HYSTERESIS : this.threshold);
      this.decisions.push(this.voiced);
    }
    this.pending = pending.slice(at);
  }

  classify(frame) {
    if (frame.length !== SILERO_FRAME_SAMPLES) throw new RangeError(`Silero takes 512-sample frames; got ${frame.length}`);
    if (this.decisions.length === 0) throw new Error("classify() before feed(): feed the samples first");
    return this.decisions.shift();
  }
}
