// The microphone: getUserMedia with the browser's speech processing off (echo cancellation, noise
// suppression and automatic gain change the audio the model and the VAD were tuned on), an AudioContext
// at the device's own rate, and an AudioWorklet that hands mono float blocks to the page.
const TAP = `
class AsrTap extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Float32Array(512); this.n = 0; }
  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const len = channels[0].length;
      for (let i = 0; i < len; i++) {
        let s = 0;
        for (let c = 0; c < channels.length; c++) s += channels[c][i];
        this.buf[this.n++] = s / channels.length;
        if (this.n === this.buf.length) { this.port.postMessage(this.buf); this.buf = new Float32Array(512); this.n = 0; }
      }
    }
    return true;
  }
}
registerProcessor("asr-tap", AsrTap);
`;

export const CONSTRAINTS = Object.freeze({
  audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
});

/** Open the microphone; `onBlock(Float32Array, sampleRateHz)` gets mono blocks. Returns {sampleRateHz, close}. */
export async function openMicrophone(onBlock) {
  const stream = await navigator.mediaDevices.getUserMedia(CONSTRAINTS);
  const context = new AudioContext({ latencyHint: "interactive" });
  const url = URL.createObjectURL(new Blob([TAP], { type: "text/javascript" }));
  try {
    await context.audioWorklet.addModule(url);
  } finally {
    URL.revokeObjectURL(url);
  }
  const source = context.createMediaStreamSource(stream);
  const tap = new AudioWorkletNode(context, "asr-tap", { numberOfInputs: 1, numberOfOutputs: 1 });
  const mute = context.createGain();
  mute.gain.value = 0; // pulled by the destination, heard by nobody
  tap.port.onmessage = (event) => onBlock(event.data, context.sampleRate);
  source.connect(tap).connect(mute).connect(context.destination);
  if (context.state !== "running") await context.resume();
  return {
    sampleRateHz: context.sampleRate,
    settings: stream.getAudioTracks()[0]?.getSettings() ?? {},
    async close() {
      tap.port.onmessage = null;
      source.disconnect();
      stream.getTracks().forEach((track) => track.stop());
      await context.close();
    },
  };
}
