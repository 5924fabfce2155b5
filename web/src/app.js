// The browser client at /app/: microphone -> 16 kHz -> VAD (the semantics of vad/) -> one Recognize
// call per clip over gRPC-Web (asr_service/server/_grpc_web.py) -> a live list of transcripts.
// window.asrApp exposes the state for the browser test (tests/e2e/test_browser_client.py).
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { openMicrophone } from "./capture.js";
import { createWebRtcDetector } from "./fvad.js";
import { AudioEncoding, NullReason, Recognizer } from "./gen/protos/asr/v1/asr_pb.js";
import { Resampler } from "./resample.js";
import { EnergyDetector, Segmenter, vadOptions } from "./segmenter.js";
import { SileroDetector } from "./silero.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/**
 * VAD options from the query string (e.g. ?aggressiveness=3&max_clip_s=8), else vad/'s defaults;
 * ?detector=silero takes 32 ms frames unless frame_ms says otherwise (and then is refused).
 */
function optionsFromQuery() {
  const names = {
    detector: "detector", frame_ms: "frameMs", aggressiveness: "aggressiveness",
    energy_threshold_dbfs: "energyThresholdDbfs", silero_threshold: "sileroThreshold", pre_padding_ms: "prePaddingMs",
    post_padding_ms: "postPaddingMs", min_silence_ms: "minSilenceMs", min_speech_ms: "minSpeechMs",
    max_clip_s: "maxClipS", normalize_dbfs: "normalizeDbfs", max_gain_db: "maxGainDb",
  };
  const overrides = {};
  for (const [query, key] of Object.entries(names)) {
    const value = params.get(query);
    if (value !== null) overrides[key] = key === "detector" ? value : Number(value);
  }
  if (overrides.detector === "silero" && overrides.frameMs === undefined) overrides.frameMs = 32;
  return vadOptions(overrides);
}

const state = {
  status: "loading",
  options: null,
  readyAt: null, // ms since navigation start: VAD loaded, start button enabled
  startClickedAt: null,
  listeningAt: null, // first microphone audio through the VAD
  sampleRateHz: null,
  trackSettings: null,
  clips: [], // one per clip the VAD cut, with its result once it comes
  clipAudio: [], // int16 samples of each clip (for the test's alignment check)
  errors: [],
};
window.asrApp = state;

const transport = createGrpcWebTransport({ baseUrl: location.origin, useBinaryFormat: true });
const client = createClient(Recognizer, transport);
let detectorPromise = null;
let session = null;

async function makeSileroDetector(options) {
  // the model and onnxruntime-web's runtime are served apart (asr_service/webapp/_silero.py)
  const response = await fetch(new URL("silero/status.json", location.href));
  const status = response.ok ? await response.json() : { installed: false, install: `HTTP ${response.status}` };
  if (!status.installed) throw new Error(`Silero is not installed on this server: ${status.install}`);
  return SileroDetector.create({
    threshold: options.sileroThreshold,
    wasmUrl: new URL("silero/ort-wasm-simd-threaded.wasm", location.href).href,
    model: new URL("silero/silero_vad_v5.onnx", location.href).href,
  });
}

function makeDetector(options) {
  if (options.detector === "energy") return Promise.resolve(new EnergyDetector(options.energyThresholdDbfs));
  if (options.detector === "silero") return makeSileroDetector(options);
  const frameSamples = (16000 * options.frameMs) / 1000;
  const wasm = new URL("fvad.wasm", location.href).href;
  return createWebRtcDetector(options.aggressiveness, frameSamples, { locateFile: () => wasm });
}

function nullReasonName(value) {
  return value ? NullReason[value] ?? String(value) : "";
}

function render(entry) {
  let row = entry.row;
  if (!row) {
    row = entry.row = document.createElement("tr");
    row.dataset.index = String(entry.index);
    $("results").prepend(row);
  }
  const cells = [
    entry.index, `${entry.startS.toFixed(2)}-${entry.endS.toFixed(2)} s`, entry.error ?? entry.text ?? "…",
    entry.latencyMs != null ? entry.latencyMs.toFixed(0) : "", entry.serverMs != null ? entry.serverMs.toFixed(0) : "",
    entry.confidence != null ? entry.confidence.toFixed(2) : "", entry.nullReason ?? "",
    entry.stats.speechRatio.toFixed(2) + (entry.stats.split ? " split" : ""),
  ];
  row.replaceChildren(...cells.map((value) => {
    const cell = document.createElement("td");
    cell.textContent = String(value);
    return cell;
  }));
  row.className = entry.error ? "error" : entry.nullReason ? "null" : "";
}

async function send(clip, endedAt) {
  const entry = {
    index: clip.index, startS: clip.startS, endS: clip.endS, speechStartS: clip.speechStartS,
    speechEndS: clip.speechEndS, stats: clip.stats, durationS: clip.pcm.length / 16000, endedAt,
    text: null, confidence: null, nullReason: null, latencyMs: null, serverMs: null, error: null,
  };
  state.clips.push(entry);
  state.clipAudio.push(clip.pcm);
  render(entry);
  const token = $("token").value.trim();
  try {
    const reply = await client.recognize({
      clipId: `clip-${clip.index}`,
      config: { format: { encoding: AudioEncoding.LINEAR16, sampleRateHz: 16000, channels: 1 } },
      audio: new Uint8Array(clip.pcm.buffer, clip.pcm.byteOffset, clip.pcm.byteLength),
      vadStats: {
        speechRatio: clip.stats.speechRatio,
        prePaddingMs: Math.round(clip.stats.prePaddingMs),
        postPaddingMs: Math.round(clip.stats.postPaddingMs),
        gainDb: clip.stats.gainDb,
        split: clip.stats.split,
        startS: clip.startS,
      },
    }, { headers: token ? { authorization: `Bearer ${token}` } : {}, timeoutMs: 30000 });
    const result = reply.result;
    entry.text = result.text;
    entry.confidence = result.confidence;
    entry.nullReason = nullReasonName(result.nullReason);
    entry.serverMs = result.latency?.serverTotalMs ?? null;
    entry.modelVersion = result.model?.modelVersion ?? "";
  } catch (error) {
    entry.error = String(error?.message ?? error);
  }
  render(entry);
  // from the end of the utterance (the VAD emitting its clip) to the transcript on the page
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  entry.latencyMs = performance.now() - endedAt;
  render(entry);
}

function meter(block) {
  let sum = 0;
  for (let i = 0; i < block.length; i++) sum += block[i] * block[i];
  const dbfs = Math.max(-90, 10 * Math.log10(sum / Math.max(block.length, 1) + 1e-12));
  $("level").value = dbfs + 90;
  $("level-text").textContent = `${dbfs.toFixed(0)} dBFS`;
}

async function start() {
  if (session) return;
  state.startClickedAt = performance.now();
  setStatus("starting");
  const detector = await detectorPromise;
  detector.reset?.(); // Silero: a new stream starts its frames at sample 0, with a fresh model state
  const segmenter = new Segmenter(state.options, detector);
  let resampler = null;
  const current = { segmenter, microphone: null, queue: Promise.resolve() };
  const onBlock = (block, rate) => {
    if (session !== current) return;
    if (state.listeningAt === null) {
      state.listeningAt = performance.now();
      setStatus("listening");
    }
    resampler ??= new Resampler(rate);
    meter(block);
    const pcm = resampler.push(block);
    if (!detector.feed) {
      for (const clip of segmenter.push(pcm)) send(clip, performance.now());
      return;
    }
    // Silero's model runs asynchronously: blocks go through it one after another, then into the segmenter
    current.queue = current.queue.then(async () => {
      await detector.feed(pcm);
      for (const clip of segmenter.push(pcm)) send(clip, performance.now());
    }).catch((error) => {
      state.errors.push(String(error));
      setStatus(`VAD failed: ${error}`);
    });
  };
  session = current;
  try {
    session.microphone = await openMicrophone(onBlock);
  } catch (error) {
    session = null;
    state.errors.push(String(error));
    setStatus(`microphone refused: ${error}`);
    return;
  }
  state.sampleRateHz = session.microphone.sampleRateHz;
  state.trackSettings = session.microphone.settings;
  $("start").disabled = true;
  $("stop").disabled = false;
}

async function stop() {
  if (!session) return;
  const { segmenter, microphone, queue } = session;
  session = null;
  await microphone?.close();
  await queue; // the blocks still in Silero's model
  for (const clip of segmenter.flush()) send(clip, performance.now());
  $("start").disabled = false;
  $("stop").disabled = true;
  setStatus("stopped");
}

function setStatus(text) {
  state.status = text;
  $("status").textContent = text;
}

function init() {
  try {
    state.options = optionsFromQuery();
  } catch (error) {
    setStatus(String(error));
    return;
  }
  const o = state.options;
  $("detector").value = o.detector;
  $("detector").onchange = () => {
    const query = new URLSearchParams(location.search);
    query.set("detector", $("detector").value);
    query.delete("frame_ms"); // each detector's own frame length
    location.search = query.toString();
  };
  const decision = o.detector === "silero" ? `threshold ${o.sileroThreshold}` : o.detector === "energy"
    ? `threshold ${o.energyThresholdDbfs} dBFS` : `aggressiveness ${o.aggressiveness}`;
  $("settings").textContent = `${o.detector} VAD, ${o.frameMs} ms frames, ${decision}, ` +
    `padding ${o.prePaddingMs}/${o.postPaddingMs} ms, min silence ${o.minSilenceMs} ms, ` +
    `min speech ${o.minSpeechMs} ms, max clip ${o.maxClipS} s`;
  $("start").onclick = start;
  $("stop").onclick = stop;
  detectorPromise = makeDetector(o);
  detectorPromise.then(() => {
    state.readyAt = performance.now();
    $("start").disabled = false;
    setStatus("ready");
  }, (error) => {
    state.errors.push(String(error));
    setStatus(`VAD failed to load: ${error?.message ?? error}`);
  });
}

init();
