// The "webrtc" detector in the browser: libfvad (WebRTC's VAD, the same code as py-webrtcvad) compiled
// to WASM by @echogarden/fvad-wasm. Same frames, same mode (aggressiveness), same decisions as
// vad/detectors/_webrtc.py: web/test/segmenter.test.js compares them frame by frame.
import createFvad from "@echogarden/fvad-wasm";

/**
 * A detector with classify(frame: Int16Array) -> boolean. `moduleArg` goes to the Emscripten module
 * (the page passes locateFile so that fvad.wasm is fetched from /app/; node reads it from wasmBinary).
 */
export async function createWebRtcDetector(aggressiveness, frameSamples, moduleArg = {}) {
  const m = await createFvad(moduleArg);
  const inst = m._fvad_new();
  if (!inst) throw new Error("fvad_new failed");
  if (m._fvad_set_mode(inst, aggressiveness) !== 0) throw new RangeError(`aggressiveness ${aggressiveness}`);
  if (m._fvad_set_sample_rate(inst, 16000) !== 0) throw new Error("fvad_set_sample_rate failed");
  const ptr = m._malloc(frameSamples * 2);
  return {
    classify(frame) {
      m.HEAP16.set(frame, ptr >> 1);
      const decision = m._fvad_process(inst, ptr, frame.length);
      if (decision < 0) throw new RangeError(`fvad_process refused a frame of ${frame.length} samples`);
      return decision === 1;
    },
  };
}
